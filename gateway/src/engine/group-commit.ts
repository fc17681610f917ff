// Group commit: mutations computed in memory queue their write operations
// here; one writer turns everything queued while the previous write was in
// flight into ONE RocksDB batch (synced if any part asked for it), and each
// caller's promise settles only when the batch holding its operations is
// durable. Concurrent takes then share one fsync instead of queueing for one
// each, and batches reach the disk in the order their operations were queued.
import type { BatchOp, Rocks } from "./rocks.js";

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private ops: BatchOp[] = [];
  private sync = false;
  private waiters: Waiter[] = [];
  private writing: Promise<void> | undefined;

  /**
   * @param extra called synchronously when a batch is cut: operations that
   *   describe the state as of that moment (counters), and what to do once
   *   they are durable;
   * @param failed called once per failed batch, before its callers are rejected.
   */
  constructor(
    private readonly db: Rocks,
    private readonly extra: () => { ops: BatchOp[]; done: () => void },
    private readonly failed: (err: unknown) => void,
  ) {}

  /** Queues `ops`; resolves when they (and everything queued before) are written. */
  commit(ops: BatchOp[], sync: boolean): Promise<void> {
    for (const op of ops) this.ops.push(op);
    this.sync ||= sync;
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.drain();
    return p;
  }

  /** Resolves when everything queued so far is written (rejects if that write failed). */
  flushed(): Promise<void> {
    if (!this.writing && this.waiters.length === 0) return Promise.resolve();
    return this.commit([], false);
  }

  /** Drops everything queued and not yet being written, rejecting its callers. */
  abandon(err: unknown): void {
    const waiters = this.waiters;
    this.ops = [];
    this.sync = false;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiters.length > 0) {
        const { ops: more, done } = this.extra();
        const ops = this.ops.concat(more);
        const sync = this.sync;
        const waiters = this.waiters;
        this.ops = [];
        this.sync = false;
        this.waiters = [];
        try {
          await this.db.batch(ops, sync);
        } catch (err) {
          this.failed(err);
          for (const w of waiters) w.reject(err);
          continue;
        }
        done();
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.writing = undefined;
    }
  }
}
