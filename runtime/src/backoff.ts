// Exponential back-off for retry loops (reconnecting a stream, seeding an
// upstream, reading a device): the wait doubles after each failure in a row,
// from `minMs` up to `maxMs`, and starts over after a success. It only says
// how long to wait; the caller sleeps the way it needs to (interruptible by an
// abort signal, woken early when retrying is worthwhile, on a test clock).

export interface BackoffPolicy {
  /** First wait after a failure. */
  minMs: number;
  /** Longest wait: the wait doubles up to this (below minMs, every wait is maxMs). */
  maxMs: number;
}

export class Backoff {
  private wait: number;

  constructor(private readonly policy: BackoffPolicy) {
    if (!(policy.minMs >= 0 && policy.maxMs >= 0)) throw new RangeError(`back-off waits can't be negative, got ${policy.minMs} and ${policy.maxMs}`);
    this.wait = Math.min(policy.minMs, policy.maxMs);
  }

  /** The wait after one more failure in a row; the one after it is twice as long, up to maxMs. */
  next(): number {
    const w = this.wait;
    this.wait = Math.min(this.wait * 2, this.policy.maxMs);
    return w;
  }

  /** A success: the next failure waits minMs again. */
  reset(): void {
    this.wait = Math.min(this.policy.minMs, this.policy.maxMs);
  }
}
