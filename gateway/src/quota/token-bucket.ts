// One token bucket: holds at most `burst` tokens and gains `perMinute` a
// minute, refilled lazily from an injected clock (milliseconds, monotonic),
// so tests move time instead of sleeping. Times are computed as
// tokens * 60000 / perMinute, exact for whole numbers, so a client told
// "retry in 20 s" is admitted at 20 s, not at 20.000000000000004.

/** A limit: `perMinute` tokens a minute, at most `burst` at once; perMinute 0 means off. */
export interface Rate {
  perMinute: number;
  burst: number;
}

export const isOn = (r: Rate): boolean => r.perMinute > 0;

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly rate: Rate,
    now: number,
  ) {
    this.tokens = rate.burst;
    this.at = now;
  }

  private msFor(tokens: number): number {
    return (tokens * 60_000) / this.rate.perMinute;
  }

  /** Tokens now; negative while a request larger than the burst is being paid off. */
  level(now: number): number {
    if (now > this.at) {
      this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.at) * this.rate.perMinute) / 60_000);
      this.at = now;
    }
    return this.tokens;
  }

  /**
   * Milliseconds until `cost` can be taken (0: now). A cost above the burst
   * only needs a full bucket, and leaves it in debt: a request larger than
   * the burst is served once the bucket is full instead of never, and the
   * average rate still holds.
   */
  waitMs(cost: number, now: number): number {
    const short = Math.min(cost, this.rate.burst) - this.level(now);
    return short <= 0 ? 0 : this.msFor(short);
  }

  take(cost: number, now: number): void {
    this.tokens = this.level(now) - cost;
  }

  /** Gives back tokens taken for something not served. */
  give(amount: number, now: number): void {
    this.tokens = Math.min(this.rate.burst, this.level(now) + amount);
  }

  /** Milliseconds until the bucket is full again. */
  fullInMs(now: number): number {
    return this.msFor(this.rate.burst - this.level(now));
  }

  isFull(now: number): boolean {
    return this.level(now) >= this.rate.burst;
  }
}
