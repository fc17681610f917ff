// When a queue mutation may run, and what happens to its writes. A mutation
// is computed in memory synchronously, right after the gate has seen that
// nothing is being recovered and that the head window (head-window.ts) holds
// what the mutation touches; nobody else runs in between, so it never sees a
// half-made change. Its writes then go through the group commit
// (group-commit.ts), with the counters as of the moment each batch is cut.
// A failed write leaves memory ahead of the database: the gate then rebuilds
// the state from what the database holds before the next mutation runs
// (store-open.ts, recoveredState), which also drops anything a take served
// from below the reservation (reservation.ts).
import type { BatchOp } from "./rocks.js";
import { Compactor } from "./compaction.js";
import { GroupCommit } from "./group-commit.js";
import { SOURCES } from "./persisted-state.js";
import { syncs, waits, type Durability } from "./reservation.js";
import { recoveredState, type Opened } from "./store-open.js";
import { SourceQueue } from "./source-queue.js";
import type { SourceName } from "./types.js";

/**
 * Longest wait for company of the writes of a take nobody waits for
 * (group-commit.ts, defer): at a few hundred takes a second, several takes'
 * deletes then share one batch. They wait safely: what a covered take deletes
 * lies below the reservation on disk, so a crash before they land loses
 * nothing served.
 */
export const DEFER_MS = 2;

export class StoreGate {
  readonly state: Record<SourceName, SourceQueue>;
  private readonly commits: GroupCommit;
  private readonly compactor: Compactor;
  private needsReload = false;
  private recovering: Promise<void> | undefined;

  constructor(
    private readonly o: Opened,
    deferMs: number,
    compaction: { afterBytes: number; intervalMs: number },
  ) {
    const flushed = () => this.commits.flushed();
    const queue = (s: SourceName) => new SourceQueue(o.db, s, o.state, flushed, o.cipher);
    this.state = { trng: queue("trng"), fortuna: queue("fortuna") };
    this.commits = new GroupCommit(o.db, () => this.cut(), () => this.writeFailed(), deferMs);
    this.compactor = new Compactor(o.db, compaction.afterBytes, compaction.intervalMs, flushed);
  }

  /**
   * Runs `mutate` once nothing is being recovered and the window of `st`
   * holds the first `bytes` bytes and `items` items of its queue (or all of
   * it), as `need` says at that moment (it is asked again after each wait),
   * synchronously after that check. Returns what `mutate` returns.
   */
  async run<T>(st: SourceQueue, need: () => readonly [bytes: number, items: number], mutate: () => T): Promise<T> {
    for (;;) {
      const [bytes, items] = need();
      const wait = this.blockedBy(st, bytes, items);
      if (!wait) {
        const result = mutate();
        this.compactor.check(st);
        return result;
      }
      await wait;
    }
  }

  /** Queues `ops`; resolves when they (and everything queued before) are written. */
  commit(ops: BatchOp[], sync: boolean): Promise<void> {
    return this.commits.commit(ops, sync);
  }

  /** Queues `ops` for the next batch anyone writes, or alone a moment later; nobody waits for it. */
  defer(ops: BatchOp[]): void {
    this.commits.defer(ops).catch(() => undefined);
  }

  /**
   * Commits a take's writes and waits as long as its Durability asks; a take
   * the reservation on disk covers does not wait, and its writes are deferred
   * to share a batch (a failure of their write is handled like any other:
   * writeFailed, then a reload that drops what the reservation covers).
   */
  commitTake(ops: BatchOp[], durability: Durability | undefined): Promise<void> | undefined {
    if (waits(durability)) return this.commits.commit(ops, syncs(durability));
    // Nobody waits: a synced raise is started now, anything else may share a later batch.
    if (syncs(durability)) this.commits.commit(ops, true).catch(() => undefined);
    else this.defer(ops);
    return undefined;
  }

  /** Resolves when everything queued so far is written (rejects if that write failed). */
  flushed(): Promise<void> {
    return this.commits.flushed();
  }

  /** Resolves once everything queued so far is written and no compaction is running. */
  async settled(): Promise<void> {
    await this.commits.flushed();
    await this.compactor.idle();
  }

  /** Lets loads, compactions and writes finish, gives the reservations back after a clean run, and closes the database. */
  async close(): Promise<void> {
    await Promise.all(SOURCES.map((s) => this.state[s].window.idle()));
    await this.compactor.stop();
    await this.commits.flushed().catch(() => undefined);
    // Everything from each head on is unserved now: give the reservations back.
    if (!this.needsReload) {
      for (const s of SOURCES) this.state[s].release();
      await this.commits.commit([], true).catch(() => undefined);
    }
    await this.o.db.close();
    for (const s of SOURCES) this.state[s].window.clear();
  }

  /**
   * Undefined when the caller may mutate now, synchronously: nothing is
   * being recovered, and the window holds the first `bytes` bytes and
   * `items` items of the queue (or all of it). Otherwise a promise to await
   * (it does the loading) before looking again.
   */
  private blockedBy(st: SourceQueue, bytes: number, items: number): Promise<void> | undefined {
    if (this.recovering) return this.recovering;
    if (this.needsReload) {
      this.recovering = this.reload().finally(() => (this.recovering = undefined));
      return this.recovering;
    }
    if (st.window.covers(bytes, items)) return undefined;
    return st.window.load(bytes, items);
  }

  /** Group commit: the counters as of the moment a batch is cut go into it. */
  private cut(): { ops: BatchOp[]; done: () => void } {
    const ops: BatchOp[] = [];
    const after = SOURCES.map((s) => this.state[s].cut(ops));
    return { ops, done: () => after.forEach((f) => f()) };
  }

  /**
   * A write failed: memory is ahead of the database. Mutations queued since
   * were computed on top of it, so they fail too; the next mutation first
   * reloads the state from what the database holds.
   */
  private writeFailed(): void {
    for (const s of SOURCES) this.state[s].window.invalidate();
    this.needsReload = true;
    this.commits.abandon(new Error("an earlier database write failed; retry"));
  }

  private async reload(): Promise<void> {
    // Takes answered before their deletes failed: what they served lies below the reservation.
    const p = await recoveredState(this.o.db, this.o.cipher);
    for (const s of SOURCES) this.state[s].reset(p);
    this.needsReload = false;
  }
}
