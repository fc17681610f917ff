// In-process coordination for the queue store: a FIFO mutex per source so
// mutations never interleave (two takers can't read the same head), and a
// one-shot "something changed" signal that feeders and stream readers wait on.

export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class Pulse {
  private waiters = new Set<() => void>();

  /** Wakes everyone currently waiting. */
  fire(): void {
    const ws = this.waiters;
    this.waiters = new Set();
    for (const w of ws) w();
  }

  /** Resolves at the next fire(); rejects with the signal's reason on abort. */
  wait(signal?: AbortSignal): Promise<void> {
    return this.waiter(signal).fired;
  }

  /**
   * Registers now, so a fire() between registering and awaiting is not
   * missed; `cancel` unregisters when the caller no longer needs it.
   */
  waiter(signal?: AbortSignal): { fired: Promise<void>; cancel: () => void } {
    let cancel = () => {};
    const fired = new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.waiters.delete(done);
        reject(signal!.reason);
      };
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      cancel = () => {
        this.waiters.delete(done);
        signal?.removeEventListener("abort", onAbort);
      };
      this.waiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    // Handled where awaited; an abort before then is not "unhandled".
    fired.catch(() => undefined);
    return { fired, cancel };
  }
}

/** Sleeps `ms`, ending early (without error) when `signal` aborts or `wake` fires. */
export function pause(ms: number, signal: AbortSignal, wake?: Pulse): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const ac = new AbortController();
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      ac.abort();
      resolve();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
    wake?.wait(ac.signal).then(finish, () => undefined);
  });
}
