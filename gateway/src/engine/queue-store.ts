// One FIFO of raw random bytes per source on RocksDB, with the seed
// document's counters, the queue-size and consume configuration, and usage
// per hour. Every change to items and their counters is ONE atomic batch, so
// a crash at any point leaves queues and counters agreeing.
//
// Counting (all in items, like the original design's status, docs/reference/original-design.md):
//   total_generated = items ever received (stored or dropped on arrival)
//   queue current   = items in the queue now (= unconsumed)
//   consumed        = items removed because their last byte was served
//   dropped         = items removed (or never stored) for lack of room, or
//                     left below the reservation by an unclean stop
// so total_generated = current + consumed + dropped at every commit.
// A partly served item stays (rewritten to its unserved bytes) and counts
// as current until its last byte is served.
//
// Speed: the head of each queue is mirrored in memory (head-window.ts), so a
// take decides what it serves synchronously, without reading the database,
// and concurrent takes get disjoint bytes by construction. What a mutation
// changes is written through a group commit. A consuming take's bytes leave
// the window at once, and stay unservable across a crash, a power loss or a
// failed write because they lie below a synced reservation (reservation.ts):
// a take waits for the disk only when it gets past the reservation on disk,
// which a steady stream of takes raises before it is reached.
//
// This module orchestrates: it waits for the window to cover a mutation,
// commits, and recovers after a failed write. Each source's state and its
// mutations are in source-queue.ts; the stored layout in keys.ts, segments.ts
// and persisted-state.ts, usage buckets in usage.ts; queued bytes are stored
// encrypted (queue-cipher.ts) under a key checked at open (store-open.ts).
import type { Rocks, BatchOp } from "./rocks.js";
import { GroupCommit } from "./group-commit.js";
import type { Pulse } from "./lock.js";
import { readUsage, type UsageBucket } from "./usage.js";
import { SOURCES, consumeOp, queueSizeOp, type SourceCounters } from "./persisted-state.js";
import { itemPrefix, itemsEnd, parseSegmentKey } from "./keys.js";
import { concat, itemsOf } from "./segments.js";
import type { QueueCipher } from "./queue-cipher.js";
import { syncs, waits, type Durability } from "./reservation.js";
import { openDatabase, recoveredState, type AtRest, type Opened, type OpenOptions } from "./store-open.js";
import { SourceQueue } from "./source-queue.js";
import type { QueueSizes, SourceName } from "./types.js";

export { SOURCES, type SourceCounters } from "./persisted-state.js";
export { WINDOW_BYTES } from "./head-window.js";
export type { UsageBucket } from "./usage.js";
export type { AtRest, OpenOptions } from "./store-open.js";

/**
 * Longest wait for company of the writes of a take nobody waits for
 * (group-commit.ts, defer): at a few hundred takes a second, several takes'
 * deletes then share one batch. They wait safely: what a covered take deletes
 * lies below the reservation on disk, so a crash before they land loses
 * nothing served.
 */
export const DEFER_MS = 2;

export interface TakeOptions {
  /** Delete served bytes (durably) before resolving. */
  consume: boolean;
  /**
   * Completes a take the queue can't cover: returns exactly `n` fresh bytes or
   * throws (then nothing is consumed). Called without blocking other callers;
   * may be called again if others drained the queue meanwhile.
   */
  fill?: (n: number) => Promise<Uint8Array>;
}

export class QueueStore {
  private readonly db: Rocks;
  private sizes: QueueSizes;
  private consume: boolean;
  private readonly cipher: QueueCipher;
  /** Whether the key outlives this store (OpenOptions.key), and what opening dropped. */
  readonly atRest: AtRest;
  private readonly state: Record<SourceName, SourceQueue>;
  private readonly commits: GroupCommit;
  private needsReload = false;
  private recovering: Promise<void> | undefined;

  private constructor(o: Opened, deferMs: number) {
    this.db = o.db;
    this.sizes = o.sizes;
    this.consume = o.consume;
    this.cipher = o.cipher;
    this.atRest = o.atRest;
    const flushed = () => this.commits.flushed();
    const queue = (s: SourceName) => new SourceQueue(o.db, s, o.state, flushed, o.cipher);
    this.state = { trng: queue("trng"), fortuna: queue("fortuna") };
    this.commits = new GroupCommit(o.db, () => this.cut(), () => this.writeFailed(), deferMs);
  }

  /**
   * Opens (creating) the store; `defaults` apply only where nothing is
   * persisted yet. Items written under another key are dropped (store-open.ts).
   */
  static async open(path: string, defaults: { sizes: QueueSizes; consume: boolean }, opts: OpenOptions = {}): Promise<QueueStore> {
    return new QueueStore(await openDatabase(path, defaults, opts.key), opts.deferMs ?? DEFER_MS);
  }

  get path(): string {
    return this.db.path;
  }

  counters(source: SourceName): SourceCounters {
    return { ...this.state[source].counters };
  }

  queueSizes(): QueueSizes {
    return { ...this.sizes };
  }

  consumeMode(): boolean {
    return this.consume;
  }

  /** Fires after `source` got new items. */
  added(source: SourceName): Pulse {
    return this.state[source].added;
  }

  /** Fires after `source` lost items or grew. */
  room(source: SourceName): Pulse {
    return this.state[source].room;
  }

  isFull(source: SourceName): boolean {
    return this.state[source].counters.items >= BigInt(this.sizes[source]);
  }

  /**
   * Appends items; when the queue would overflow, the oldest items are
   * dropped (counted) in the same batch. `polls` counts upstream fetches.
   * The items' buffers are handed over: the queue's head is served from
   * them, and they are zeroed once served or dropped.
   */
  async enqueue(source: SourceName, items: Uint8Array[], polls = items.length): Promise<{ dropped: number }> {
    const st = this.state[source];
    for (;;) {
      const wait = this.blockedBy(st, 0, st.overflow(items.length, this.sizes[source]));
      if (wait) {
        await wait;
        continue;
      }
      // From here to commit: synchronous, so nobody sees a half-made change.
      const ops: BatchOp[] = [];
      const dropped = st.append(items, polls, this.sizes[source], ops);
      const written = this.commits.commit(ops, false);
      if (items.length > 0) st.added.fire();
      await written;
      return { dropped };
    }
  }

  /** Counts upstream fetches that stored nothing (direct pulls for a shortfall). */
  async addPolls(source: SourceName, polls: number): Promise<void> {
    const st = this.state[source];
    for (;;) {
      const wait = this.blockedBy(st, 0, 0);
      if (wait) {
        await wait;
        continue;
      }
      st.counters.polling += BigInt(polls);
      return this.commits.commit([], false);
    }
  }

  /**
   * All or nothing: skips `offset` bytes from the head, returns the next
   * `bytes` bytes (completed by `fill` when the queue is short), or null with
   * nothing changed. Consume: served bytes are deleted, and durably
   * unservable, before this resolves; skipped bytes and the unserved rest of
   * a partly served item stay.
   */
  async take(source: SourceName, bytes: number, offset: number, opts: TakeOptions): Promise<Uint8Array | null> {
    const st = this.state[source];
    const want = offset + bytes;
    let extra: Uint8Array | undefined;
    for (;;) {
      const wait = this.blockedBy(st, want, 0);
      if (wait) {
        await wait;
        continue;
      }
      const fromQueue = Math.max(0, Math.min(st.window.bytes, want) - offset);
      const short = bytes - fromQueue - (extra?.length ?? 0);
      if (short > 0) {
        // The queue can't cover it: pull the rest without holding anyone up,
        // then look again (others may have taken or added meanwhile).
        if (!opts.fill) return null;
        let more: Uint8Array;
        try {
          more = await opts.fill(short);
        } catch {
          return null;
        }
        extra = extra ? concat([extra, more], extra.length + more.length) : more;
        continue;
      }
      const out = new Uint8Array(bytes);
      const ops: BatchOp[] = [];
      const durability = st.serve(offset, fromQueue, opts.consume, out, ops);
      // The window served `fromQueue` bytes exactly; `fill` completes the rest.
      if (extra && fromQueue < bytes) out.set(extra.subarray(0, bytes - fromQueue), fromQueue);
      st.countRequest(bytes);
      const written = this.commitTake(ops, durability);
      if (opts.consume) st.room.fire();
      await written;
      return out;
    }
  }

  /** Between 0 and `maxBytes` bytes from the head, always consumed (durably). */
  async takeSome(source: SourceName, maxBytes: number): Promise<Uint8Array> {
    const st = this.state[source];
    for (;;) {
      const wait = this.blockedBy(st, maxBytes, 0);
      if (wait) {
        await wait;
        continue;
      }
      const n = Math.min(maxBytes, st.window.bytes);
      if (n === 0) return new Uint8Array(0);
      const out = new Uint8Array(n);
      const ops: BatchOp[] = [];
      const durability = st.serve(0, n, true, out, ops);
      st.countRequest(n);
      const written = this.commitTake(ops, durability);
      st.room.fire();
      await written;
      return out;
    }
  }

  /** Applies at once: shrinking drops the oldest items (counted); persisted with the drop. */
  async setQueueSizes(sizes: Partial<QueueSizes>): Promise<QueueSizes> {
    for (const [s, n] of Object.entries(sizes)) {
      if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${s} queue size must be a positive integer, got ${n}`);
    }
    for (const s of SOURCES) {
      const n = sizes[s];
      if (n === undefined) continue;
      const st = this.state[s];
      for (;;) {
        const excess = Math.max(0, Number(st.counters.items) - n);
        const wait = this.blockedBy(st, 0, excess);
        if (wait) {
          await wait;
          continue;
        }
        const ops: BatchOp[] = [queueSizeOp(s, n)];
        st.dropOldest(excess, ops);
        this.sizes = { ...this.sizes, [s]: n };
        const written = this.commits.commit(ops, true);
        st.room.fire();
        await written;
        break;
      }
    }
    return this.queueSizes();
  }

  async setConsumeMode(consume: boolean): Promise<boolean> {
    await this.commits.commit([consumeOp(consume)], true);
    this.consume = consume;
    return consume;
  }

  /** Usage per hour bucket, oldest first. */
  async usage(source: SourceName): Promise<UsageBucket[]> {
    await this.commits.flushed();
    return readUsage(this.db, source);
  }

  /** Every item of a source in order, decrypted (tests and tools; a full scan). */
  async items(source: SourceName): Promise<{ id: bigint; data: Buffer }[]> {
    await this.commits.flushed();
    const rows = await this.db.range({ gte: itemPrefix(source), lt: itemsEnd(source) });
    return rows.flatMap(([k, v]) => itemsOf({ ...parseSegmentKey(k), data: this.cipher.open(v) }));
  }

  async close(): Promise<void> {
    // Let in-flight loads and writes finish first.
    await Promise.all(SOURCES.map((s) => this.state[s].window.idle()));
    await this.commits.flushed().catch(() => undefined);
    // Everything from each head on is unserved now: give the reservations back.
    if (!this.needsReload) {
      for (const s of SOURCES) this.state[s].release();
      await this.commits.commit([], true).catch(() => undefined);
    }
    await this.db.close();
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

  /**
   * Commits a take's writes and waits as long as its Durability asks; a take
   * the reservation on disk covers does not wait, and its writes are deferred
   * to share a batch (a failure of their write is handled like any other:
   * writeFailed, then a reload that drops what the reservation covers).
   */
  private commitTake(ops: BatchOp[], durability: Durability | undefined): Promise<void> | undefined {
    if (waits(durability)) return this.commits.commit(ops, syncs(durability));
    // Nobody waits: a synced raise is started now, anything else may share a later batch.
    const written = syncs(durability) ? this.commits.commit(ops, true) : this.commits.defer(ops);
    written.catch(() => undefined);
    return undefined;
  }

  /** Group commit: the counters and usage as of the moment a batch is cut go into it. */
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
    const p = await recoveredState(this.db, this.cipher);
    for (const s of SOURCES) this.state[s].reset(p);
    this.needsReload = false;
  }
}
