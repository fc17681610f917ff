// One FIFO of raw random bytes per source on RocksDB, with the seed
// document's counters and the queue-size and consume configuration. Every
// change to items and their counters is ONE atomic batch, so a crash at any
// point leaves queues and counters agreeing.
//
// Counting (all in items, like the original design's status, docs/reference/original-design.md):
//   total_generated = items ever received (stored or dropped on arrival)
//   queue current   = items in the queue now (= unconsumed)
//   consumed        = items removed because their last byte was served
//   dropped         = items removed (or never stored) for lack of room, or
//                     left below the reservation by an unclean stop
//   polling         = upstream messages and direct pulls, committed with
//                     what they brought
// so total_generated = current + consumed + dropped at every commit.
// A partly served item stays (rewritten to its unserved bytes) and counts
// as current until its last byte is served.
//
// Speed: the head of each queue is mirrored in memory (head-window.ts), so a
// take decides what it serves synchronously, without reading the database,
// and concurrent takes get disjoint bytes by construction. A consuming take's
// bytes leave the window at once, and stay unservable across a crash, a power
// loss or a failed write because they lie below a synced reservation
// (reservation.ts): a take waits for the disk only when it gets past the
// reservation on disk, which a steady stream of takes raises before it is reached.
//
// This module is the store's interface. When mutations run, their commits and
// recovery after a failed write are in store-gate.ts; each source's state and
// its mutations in source-queue.ts; the stored layout in keys.ts, segments.ts
// and persisted-state.ts; compaction of what was removed in compaction.ts;
// queued bytes are stored encrypted (queue-cipher.ts) under a key checked at
// open (store-open.ts).
import type { BatchOp } from "./rocks.js";
import { COMPACT_AFTER_BYTES, COMPACT_INTERVAL_MS, dropRetiredUsage } from "./compaction.js";
import type { Pulse } from "./lock.js";
import { SOURCES, consumeOp, queueSizeOp, type SourceCounters } from "./persisted-state.js";
import { itemPrefix, itemsEnd, parseSegmentKey } from "./keys.js";
import { concat, itemsOf } from "./segments.js";
import type { QueueCipher } from "./queue-cipher.js";
import { openDatabase, type AtRest, type Opened, type OpenOptions, type Storage } from "./store-open.js";
import { OVERFLOW, type Appended, type SourceQueue } from "./source-queue.js";
import { DEFER_MS, StoreGate } from "./store-gate.js";
import type { QueueSizes, SourceName } from "./types.js";

export { SOURCES, type SourceCounters } from "./persisted-state.js";
export { WINDOW_BYTES } from "./head-window.js";
export type { AtRest, OpenOptions, Storage } from "./store-open.js";
export { OVERFLOW, type Appended, type Overflow } from "./source-queue.js";

export interface StoreOptions extends OpenOptions {
  /** Bytes leaving a queue between compactions of what lies below its head (compaction.ts). */
  compactAfterBytes?: number;
  /** Shortest time between those compactions (compaction.ts). */
  compactIntervalMs?: number;
}

/** What an enqueue did with a message (Appended), and its write. */
export interface Enqueued extends Appended {
  /**
   * Settles once the batch holding the message is on disk; rejects if that
   * write failed (the store then rebuilds its state from the disk, without
   * the message). Takers may have the message before: see enqueue.
   */
  written: Promise<void>;
}

/** Fresh bytes straight from the upstream, and how many calls it took (counted as polls). */
export type Fill = (n: number) => Promise<{ data: Uint8Array; calls: number }>;

export interface TakeOptions {
  /** Delete served bytes (durably) before resolving. */
  consume: boolean;
  /**
   * Completes a take the queue can't cover: returns exactly `n` fresh bytes or
   * throws (then nothing is consumed). Called without blocking other callers;
   * may be called again if others drained the queue meanwhile.
   */
  fill?: Fill;
}

export class QueueStore {
  private sizes: QueueSizes;
  private consume: boolean;
  private readonly cipher: QueueCipher;
  /** Whether the key outlives this store (OpenOptions.key), and what opening dropped. */
  readonly atRest: AtRest;
  private readonly gate: StoreGate;
  private readonly state: Record<SourceName, SourceQueue>;

  private constructor(
    private readonly o: Opened,
    opts: StoreOptions,
  ) {
    this.sizes = o.sizes;
    this.consume = o.consume;
    this.cipher = o.cipher;
    this.atRest = o.atRest;
    this.gate = new StoreGate(o, opts.deferMs ?? DEFER_MS, { afterBytes: opts.compactAfterBytes ?? COMPACT_AFTER_BYTES, intervalMs: opts.compactIntervalMs ?? COMPACT_INTERVAL_MS });
    this.state = this.gate.state;
  }

  /**
   * Opens (creating) the store; `defaults` apply only where nothing is
   * persisted yet. Items written under another key are dropped (store-open.ts).
   */
  static async open(path: string, defaults: { sizes: QueueSizes; consume: boolean }, opts: StoreOptions = {}): Promise<QueueStore> {
    const o = await openDatabase(path, defaults, opts);
    await dropRetiredUsage(o.db);
    return new QueueStore(o, opts);
  }

  get path(): string {
    return this.o.db.path;
  }

  /** The database's disk: a storage fault in progress, what the served mark found (store-open.ts). */
  get storage(): Storage {
    return this.o.storage;
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
   * Stores one upstream message of items of `itemBytes` bytes (the last may be
   * shorter) as its source's OVERFLOW (source-queue.ts) says, and counts
   * `polls` upstream messages, all in one batch. Resolves once the message is in the queue,
   * before that batch is written (Enqueued.written): takers may have it at
   * once, and the group commit lets the next message share the write. What
   * it took is the queue's; a "fill" queue that is full takes nothing.
   */
  async enqueue(source: SourceName, message: Uint8Array, itemBytes: number, polls = 1): Promise<Enqueued> {
    if (!Number.isSafeInteger(itemBytes) || itemBytes < 1) throw new RangeError(`itemBytes must be a positive integer, got ${itemBytes}`);
    const st = this.state[source];
    const overflow = OVERFLOW[source];
    return this.gate.run(st, () => [0, st.plan(message, itemBytes, this.sizes[source], overflow).pushOut], () => {
      const ops: BatchOp[] = [];
      const appended = st.append(message, itemBytes, polls, this.sizes[source], overflow, ops);
      if (appended.taken > 0) st.added.fire();
      const written = this.gate.commit(ops, false);
      // Handled here so a caller that never looks is no unhandled rejection; one that awaits it still sees it.
      written.catch(() => undefined);
      return { ...appended, written };
    });
  }

  /**
   * All or nothing: skips `offset` bytes from the head, returns the next
   * `bytes` bytes (completed by `fill` when the queue is short), or null with
   * nothing changed. Consume: served bytes are deleted, and durably
   * unservable, before this resolves; skipped bytes and the unserved rest of
   * a partly served item stay. Fill's calls are counted in the take's batch.
   */
  async take(source: SourceName, bytes: number, offset: number, opts: TakeOptions): Promise<Uint8Array | null> {
    const st = this.state[source];
    const want = offset + bytes;
    let extra: Uint8Array | undefined;
    let polls = 0;
    for (;;) {
      const step = await this.gate.run(st, () => [want, 0], () => {
        const fromQueue = Math.max(0, Math.min(st.window.bytes, want) - offset);
        const short = bytes - fromQueue - (extra?.length ?? 0);
        if (short > 0) return short;
        const out = new Uint8Array(bytes);
        // The window serves `fromQueue` bytes exactly; `fill` completes the rest.
        if (extra && fromQueue < bytes) out.set(extra.subarray(0, bytes - fromQueue), fromQueue);
        st.counters.polling += BigInt(polls);
        return { out, written: this.serve(st, offset, fromQueue, opts.consume, out) };
      });
      if (typeof step !== "number") {
        await step.written;
        return step.out;
      }
      // The queue can't cover it: pull the rest without holding anyone up,
      // then look again (others may have taken or added meanwhile).
      if (!opts.fill) return null;
      try {
        const more = await opts.fill(step);
        polls += more.calls;
        extra = extra ? concat([extra, more.data], extra.length + more.data.length) : more.data;
      } catch {
        await this.countPolls(st, polls);
        return null;
      }
    }
  }

  /**
   * Between 0 and `maxBytes` bytes from the head, always consumed (durably).
   * With `fill`, an empty queue is answered from it instead (up to `maxBytes`,
   * its calls counted with the next batch); a failing fill answers nothing.
   */
  async takeSome(source: SourceName, maxBytes: number, fill?: Fill): Promise<Uint8Array> {
    const st = this.state[source];
    const step = await this.gate.run(st, () => [maxBytes, 0], () => {
      const n = Math.min(maxBytes, st.window.bytes);
      if (n === 0) return undefined;
      const out = new Uint8Array(n);
      return { out, written: this.serve(st, 0, n, true, out) };
    });
    if (step) {
      await step.written;
      return step.out;
    }
    if (!fill) return new Uint8Array(0);
    const got = await fill(maxBytes).catch(() => undefined);
    if (!got) return new Uint8Array(0);
    await this.countPolls(st, got.calls);
    return got.data;
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
      const excess = () => Math.max(0, Number(st.counters.items) - n);
      const written = await this.gate.run(st, () => [0, excess()], () => {
        const ops: BatchOp[] = [queueSizeOp(s, n)];
        st.dropOldest(excess(), ops);
        this.sizes = { ...this.sizes, [s]: n };
        st.room.fire();
        return this.gate.commit(ops, true);
      });
      await written;
    }
    return this.queueSizes();
  }

  async setConsumeMode(consume: boolean): Promise<boolean> {
    await this.gate.commit([consumeOp(consume)], true);
    this.consume = consume;
    return consume;
  }

  /** Every item of a source in order, decrypted (tests and tools; a full scan). */
  async items(source: SourceName): Promise<{ id: bigint; data: Buffer }[]> {
    await this.gate.flushed();
    const rows = await this.o.db.range({ gte: itemPrefix(source), lt: itemsEnd(source) });
    return rows.flatMap(([k, v]) => itemsOf({ ...parseSegmentKey(k), data: this.cipher.open(v) }));
  }

  /** Resolves once everything queued for writing is written and no compaction is running (tests and tools). */
  settled(): Promise<void> {
    return this.gate.settled();
  }

  close(): Promise<void> {
    return this.gate.close();
  }

  /** Copies window bytes [offset, offset + n) into `out`, consuming them with `consume`, and commits the take (store-gate.ts, commitTake). */
  private serve(st: SourceQueue, offset: number, n: number, consume: boolean, out: Uint8Array): Promise<void> | undefined {
    const ops: BatchOp[] = [];
    const written = this.gate.commitTake(ops, st.serve(offset, n, consume, out, ops));
    if (consume) st.room.fire();
    return written;
  }

  /** Counts upstream calls that brought nothing to the queue; they are written with the next batch, not one of their own. */
  private countPolls(st: SourceQueue, polls: number): Promise<void> {
    if (polls === 0) return Promise.resolve();
    return this.gate.run(st, () => [0, 0], () => {
      st.counters.polling += BigInt(polls);
      this.gate.defer([]);
    });
  }
}
