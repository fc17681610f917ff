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
  /** Starts the write of deferred operations that found no company in time. */
  private deferTimer: NodeJS.Timeout | undefined;

  /**
   * @param extra called synchronously when a batch is cut: operations that
   *   describe the state as of that moment (counters), and what to do once
   *   they are durable;
   * @param failed called once per failed batch, before its callers are rejected;
   * @param deferMs how long defer() lets operations wait for company.
   */
  constructor(
    private readonly db: Rocks,
    private readonly extra: () => { ops: BatchOp[]; done: () => void },
    private readonly failed: (err: unknown) => void,
    private readonly deferMs: number,
  ) {}

  /** Queues `ops`; resolves when they (and everything queued before) are written. */
  commit(ops: BatchOp[], sync: boolean): Promise<void> {
    const p = this.enqueue(ops, sync);
    this.start();
    return p;
  }

  /**
   * Like commit(), for writes nobody waits for: they go with the next batch
   * anyone starts, or alone after `deferMs`. Several then share one batch
   * (and one trip to RocksDB's thread pool) instead of taking one each.
   */
  defer(ops: BatchOp[]): Promise<void> {
    const p = this.enqueue(ops, false);
    if (!this.writing) this.deferTimer ??= setTimeout(() => this.start(), this.deferMs);
    return p;
  }

  /** Resolves when everything queued so far is written (rejects if that write failed). */
  flushed(): Promise<void> {
    if (!this.writing && this.waiters.length === 0) return Promise.resolve();
    return this.commit([], false);
  }

  /** Drops everything queued and not yet being written, rejecting its callers. */
  abandon(err: unknown): void {
    clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    const waiters = this.waiters;
    this.ops = [];
    this.sync = false;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  private enqueue(ops: BatchOp[], sync: boolean): Promise<void> {
    for (const op of ops) this.ops.push(op);
    this.sync ||= sync;
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private start(): void {
    clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    this.writing ??= this.drain();
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
