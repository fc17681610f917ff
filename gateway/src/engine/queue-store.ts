// One FIFO of raw random bytes per source on RocksDB, with the seed
// document's counters, the queue-size and consume configuration, and usage
// per hour. Every change to items and their counters is ONE atomic batch, so
// a crash at any point leaves queues and counters agreeing.
//
// Counting (all in items, like the seed document's status):
//   total_generated = items ever received (stored or dropped on arrival)
//   queue current   = items in the queue now (= unconsumed)
//   consumed        = items removed because their last byte was served
//   dropped         = items removed (or never stored) for lack of room
// so total_generated = current + consumed + dropped at every commit.
// A partly served item stays (rewritten to its unserved bytes) and counts
// as current until its last byte is served.
//
// Speed: the head of each queue is mirrored in memory (a window of whole
// items, at most WINDOW_BYTES when filled by enqueues), so a take decides
// what it serves synchronously, without reading the database, and concurrent
// takes get disjoint bytes by construction. What a mutation changes is
// written through a group commit: concurrent takes share one synced batch,
// and each resolves only once the batch deleting its bytes is durable.
// Items beyond the window (a queue bigger than the budget) are read back in
// one iterator pass per LOAD_BYTES.
import { Rocks, type BatchOp } from "./rocks.js";
import { GroupCommit } from "./group-commit.js";
import { Mutex, Pulse } from "./lock.js";
import {
  COUNTERS, consumeKey, counterKey, countersEnd, countersStart, itemIdOf, itemKey, itemPrefix, itemsEnd,
  queueSizeKey, readU64, u64, usageEnd, usageKey, usageStart, type CounterName,
} from "./keys.js";
import type { QueueSizes, SourceName } from "./types.js";

export const SOURCES: readonly SourceName[] = ["trng", "fortuna"];
const HOUR_MS = 3_600_000;
/** Most bytes of a queue's head that enqueues keep in memory (the default Fortuna queue, 5000 x 1 KiB, fits). */
export const WINDOW_BYTES = 16 * 1024 * 1024;
/** Bytes read back from the database in one pass when the window runs short. */
const LOAD_BYTES = 4 * 1024 * 1024;
/** Read-ahead of that pass (the native iterator also stops at 1000 entries per trip). */
const LOAD_READ_AHEAD_BYTES = 1024 * 1024;

export type SourceCounters = Record<CounterName, bigint>;

export interface UsageBucket {
  /** Start of the hour, ms since the epoch. */
  hourStartMs: number;
  requests: bigint;
  bytes: bigint;
}

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

interface Item {
  id: bigint;
  data: Buffer;
}

interface SourceState {
  /** Serializes reads of items beyond the window. */
  loadLock: Mutex;
  /** Current state: includes mutations whose batch is not written yet. */
  counters: SourceCounters;
  /** As last written. */
  persisted: SourceCounters;
  /** The window: win[winAt..] are the queue's first items, in order. */
  win: Item[];
  winAt: number;
  winBytes: number;
  /** Every item with an id below this is in the window; at next_id the window is the whole queue. */
  winEnd: bigint;
  usage?: { hour: bigint; requests: bigint; bytes: bigint };
  usageDirty: boolean;
  /** Fires after items were added. */
  added: Pulse;
  /** Fires after items were removed or capacity grew. */
  room: Pulse;
}

interface Persisted {
  counters: Record<SourceName, SourceCounters>;
  heads: Record<SourceName, bigint>;
  usage: Partial<Record<SourceName, SourceState["usage"]>>;
}

/** Counters, head positions (one seek each, no full scan) and current usage buckets as stored. */
async function readPersisted(db: Rocks): Promise<Persisted> {
  const counters = { trng: zeroCounters(), fortuna: zeroCounters() };
  await db.scan({ gte: countersStart, lt: countersEnd }, (k, v) => {
    const [, source, name] = k.toString("latin1").split("/");
    const c = counters[source as SourceName];
    if (c && (COUNTERS as readonly string[]).includes(name) && v.length === 8) c[name as CounterName] = readU64(v);
  });
  const heads = { trng: 0n, fortuna: 0n };
  const usage: Persisted["usage"] = {};
  for (const s of SOURCES) {
    const [first] = await db.range({ gte: itemPrefix(s), lt: itemsEnd(s), limit: 1 });
    const [last] = await db.range({ gte: itemPrefix(s), lt: itemsEnd(s), limit: 1, reverse: true });
    const c = counters[s];
    if (last && itemIdOf(last[0]) >= c.next_id) c.next_id = itemIdOf(last[0]) + 1n;
    if (!first) c.items = 0n;
    heads[s] = first ? itemIdOf(first[0]) : c.next_id;
    const [u] = await db.range({ gte: usageStart(s), lt: usageEnd(s), limit: 1, reverse: true });
    if (u) usage[s] = { hour: itemIdOf(u[0]), requests: readU64(u[1], 0), bytes: readU64(u[1], 8) };
  }
  return { counters, heads, usage };
}

export class QueueStore {
  private readonly state: Record<SourceName, SourceState>;
  private readonly commits: GroupCommit;
  /** Bumped when a failed write invalidates the in-memory state. */
  private epoch = 0;
  private needsReload = false;
  private recovering: Promise<void> | undefined;

  private constructor(
    private readonly db: Rocks,
    private sizes: QueueSizes,
    private consume: boolean,
    p: Persisted,
  ) {
    const mk = (s: SourceName): SourceState => ({
      loadLock: new Mutex(), counters: { ...p.counters[s] }, persisted: p.counters[s],
      win: [], winAt: 0, winBytes: 0, winEnd: p.heads[s], usage: p.usage[s], usageDirty: false,
      added: new Pulse(), room: new Pulse(),
    });
    this.state = { trng: mk("trng"), fortuna: mk("fortuna") };
    this.commits = new GroupCommit(db, () => this.cut(), () => this.writeFailed());
  }

  /** Opens (creating) the store; `defaults` apply only where nothing is persisted yet. */
  static async open(path: string, defaults: { sizes: QueueSizes; consume: boolean }): Promise<QueueStore> {
    const db = await Rocks.open(path);
    try {
      const sizes = { ...defaults.sizes };
      let consume = defaults.consume;
      const init: BatchOp[] = [];
      for (const s of SOURCES) {
        const [[, v] = []] = await db.range({ gte: queueSizeKey(s), lt: Buffer.concat([queueSizeKey(s), Buffer.from([0])]), limit: 1 });
        if (v?.length === 8) sizes[s] = Number(readU64(v));
        else init.push({ type: "put", key: queueSizeKey(s), value: u64(BigInt(sizes[s])) });
      }
      const [[, cv] = []] = await db.range({ gte: consumeKey, lt: Buffer.concat([consumeKey, Buffer.from([0])]), limit: 1 });
      if (cv?.length === 1) consume = cv[0] === 1;
      else init.push({ type: "put", key: consumeKey, value: Buffer.from([consume ? 1 : 0]) });
      await db.batch(init, true);
      return new QueueStore(db, sizes, consume, await readPersisted(db));
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
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
   */
  async enqueue(source: SourceName, items: Uint8Array[], polls = items.length): Promise<{ dropped: number }> {
    const st = this.state[source];
    const incoming = items.length;
    for (;;) {
      const cap = this.sizes[source];
      const stored = incoming > cap ? items.slice(incoming - cap) : items;
      const overflow = Math.max(0, Number(st.counters.items) + stored.length - cap);
      const wait = this.blockedBy(source, st, 0, overflow);
      if (wait) {
        await wait;
        continue;
      }
      // From here to commit: synchronous, so nobody sees a half-made change.
      const ops: BatchOp[] = [];
      this.dropFront(source, st, overflow, ops);
      const c = st.counters;
      for (const item of stored) {
        const id = c.next_id++;
        const data = Buffer.from(item.buffer, item.byteOffset, item.byteLength);
        ops.push({ type: "put", key: itemKey(source, id), value: data });
        if (st.winEnd === id && st.winBytes + data.length <= WINDOW_BYTES) {
          st.win.push({ id, data });
          st.winBytes += data.length;
          st.winEnd = id + 1n;
        }
      }
      const dropped = incoming - stored.length + overflow;
      c.items += BigInt(stored.length - overflow);
      c.dropped += BigInt(dropped);
      c.polling += BigInt(polls);
      c.total_generated += BigInt(incoming);
      const written = this.commits.commit(ops, false);
      if (stored.length > 0) st.added.fire();
      await written;
      return { dropped };
    }
  }

  /** Counts upstream fetches that stored nothing (direct pulls for a shortfall). */
  async addPolls(source: SourceName, polls: number): Promise<void> {
    const st = this.state[source];
    for (;;) {
      const wait = this.blockedBy(source, st, 0, 0);
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
   * nothing changed. Consume: served bytes are deleted with a synced batch
   * before this resolves; skipped bytes and the unserved rest of a partly
   * served item stay.
   */
  async take(source: SourceName, bytes: number, offset: number, opts: TakeOptions): Promise<Uint8Array | null> {
    const st = this.state[source];
    const want = offset + bytes;
    let extra: Uint8Array | undefined;
    for (;;) {
      const wait = this.blockedBy(source, st, want, 0);
      if (wait) {
        await wait;
        continue;
      }
      const fromQueue = Math.max(0, Math.min(st.winBytes, want) - offset);
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
      const copied = this.serve(source, st, offset, fromQueue, opts.consume, out, ops);
      if (extra && copied < bytes) out.set(extra.subarray(0, bytes - copied), copied);
      this.countUsage(st, bytes);
      const written = this.commits.commit(ops, opts.consume);
      if (opts.consume) st.room.fire();
      await written;
      return out;
    }
  }

  /** Between 0 and `maxBytes` bytes from the head, always consumed (durably). */
  async takeSome(source: SourceName, maxBytes: number): Promise<Uint8Array> {
    const st = this.state[source];
    for (;;) {
      const wait = this.blockedBy(source, st, maxBytes, 0);
      if (wait) {
        await wait;
        continue;
      }
      const n = Math.min(maxBytes, st.winBytes);
      if (n === 0) return new Uint8Array(0);
      const out = new Uint8Array(n);
      const ops: BatchOp[] = [];
      this.serve(source, st, 0, n, true, out, ops);
      this.countUsage(st, n);
      const written = this.commits.commit(ops, true);
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
        const wait = this.blockedBy(s, st, 0, excess);
      if (wait) {
        await wait;
        continue;
      }
        const ops: BatchOp[] = [{ type: "put", key: queueSizeKey(s), value: u64(BigInt(n)) }];
        this.dropFront(s, st, excess, ops);
        st.counters.items -= BigInt(excess);
        st.counters.dropped += BigInt(excess);
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
    await this.commits.commit([{ type: "put", key: consumeKey, value: Buffer.from([consume ? 1 : 0]) }], true);
    this.consume = consume;
    return consume;
  }

  /** Usage per hour bucket, oldest first. */
  async usage(source: SourceName): Promise<UsageBucket[]> {
    await this.commits.flushed();
    const rows = await this.db.range({ gte: usageStart(source), lt: usageEnd(source) });
    return rows.map(([k, v]) => ({ hourStartMs: Number(itemIdOf(k)) * HOUR_MS, requests: readU64(v, 0), bytes: readU64(v, 8) }));
  }

  /** Every item of a source in order, as written (tests and tools; a full scan). */
  async items(source: SourceName): Promise<{ id: bigint; data: Buffer }[]> {
    await this.commits.flushed();
    const rows = await this.db.range({ gte: itemPrefix(source), lt: itemsEnd(source) });
    return rows.map(([k, v]) => ({ id: itemIdOf(k), data: v }));
  }

  async close(): Promise<void> {
    // Let in-flight loads and writes finish first.
    await Promise.all(SOURCES.map((s) => this.state[s].loadLock.run(async () => undefined)));
    await this.commits.flushed().catch(() => undefined);
    await this.db.close();
  }

  /**
   * Undefined when the caller may mutate now, synchronously: nothing is
   * being recovered, and the window holds the first `bytes` bytes and
   * `items` items of the queue (or all of it). Otherwise a promise to await
   * (it does the loading) before looking again.
   */
  private blockedBy(source: SourceName, st: SourceState, bytes: number, items: number): Promise<void> | undefined {
    if (this.recovering) return this.recovering;
    if (this.needsReload) {
      this.recovering = this.reload().finally(() => (this.recovering = undefined));
      return this.recovering;
    }
    if (this.covers(st, bytes, items)) return undefined;
    return this.load(source, st, bytes, items);
  }

  private covers(st: SourceState, bytes: number, items: number): boolean {
    return st.winEnd === st.counters.next_id || (st.winBytes >= bytes && st.win.length - st.winAt >= items);
  }

  /** Extends the window from the database: one iterator pass of at least LOAD_BYTES. */
  private load(source: SourceName, st: SourceState, bytes: number, items: number): Promise<void> {
    return st.loadLock.run(async () => {
      if (this.covers(st, bytes, items)) return;
      const epoch = this.epoch;
      const from = st.winEnd;
      // Everything below `upTo` is queued for writing; once flushed, the database has it.
      const upTo = st.counters.next_id;
      await this.commits.flushed();
      const got: Item[] = [];
      let gotBytes = 0;
      let stopped = false;
      const needBytes = Math.max(LOAD_BYTES, bytes - st.winBytes);
      const needItems = items - (st.win.length - st.winAt);
      await this.db.scan({ gte: itemKey(source, from), lt: itemKey(source, upTo), readAheadBytes: LOAD_READ_AHEAD_BYTES }, (k, v) => {
        got.push({ id: itemIdOf(k), data: v });
        gotBytes += v.length;
        if (gotBytes >= needBytes && got.length >= needItems) {
          stopped = true;
          return false;
        }
      });
      // Mutations never touch items past the window, so what was read is
      // still current, unless a failed write reset the state meanwhile.
      if (epoch !== this.epoch || st.winEnd !== from) return;
      for (const item of got) st.win.push(item);
      st.winBytes += gotBytes;
      st.winEnd = stopped ? got[got.length - 1].id + 1n : upTo;
    });
  }

  /** Removes the `n` oldest items (all in the window), adding their deletes to `ops`. */
  private dropFront(source: SourceName, st: SourceState, n: number, ops: BatchOp[]): void {
    for (let i = 0; i < n; i++) {
      const item = st.win[st.winAt];
      st.win[st.winAt++] = undefined as never;
      st.winBytes -= item.data.length;
      ops.push({ type: "del", key: itemKey(source, item.id) });
    }
    this.compact(st);
  }

  /**
   * Copies window bytes [offset, offset + n) into `out`; with `consume`,
   * removes them: fully served items are deleted (and counted consumed), a
   * partly served one is rewritten to its unserved bytes. Returns n.
   */
  private serve(source: SourceName, st: SourceState, offset: number, n: number, consume: boolean, out: Uint8Array, ops: BatchOp[]): number {
    if (n === 0) return 0;
    const end = offset + n;
    let pos = 0;
    let i = st.winAt;
    while (pos + st.win[i].data.length <= offset) pos += st.win[i++].data.length;
    const first = i;
    const kept: Item[] = [];
    let copied = 0;
    let consumed = 0;
    for (; copied < n; i++) {
      const { id, data } = st.win[i];
      const from = Math.max(0, offset - pos);
      const to = Math.min(data.length, end - pos);
      out.set(data.subarray(from, to), copied);
      copied += to - from;
      pos += data.length;
      if (!consume) continue;
      if (from === 0 && to === data.length) {
        ops.push({ type: "del", key: itemKey(source, id) });
        consumed++;
      } else {
        const rest = from === 0 ? data.subarray(to) : to === data.length ? data.subarray(0, from) : Buffer.concat([data.subarray(0, from), data.subarray(to)]);
        ops.push({ type: "put", key: itemKey(source, id), value: rest });
        kept.push({ id, data: rest });
      }
    }
    if (!consume) return copied;
    if (first === st.winAt) {
      // Served from the front (the usual case): move the start, no copying.
      st.winAt = i - kept.length;
      for (let k = 0; k < kept.length; k++) st.win[st.winAt + k] = kept[k];
      for (let k = first; k < st.winAt; k++) st.win[k] = undefined as never;
    } else {
      st.win.splice(first, i - first, ...kept);
    }
    st.winBytes -= n;
    st.counters.items -= BigInt(consumed);
    st.counters.consumed += BigInt(consumed);
    this.compact(st);
    this.prefetch(source, st);
    return copied;
  }

  /** Reads the next part of a long queue before takes have to wait for it. */
  private prefetch(source: SourceName, st: SourceState): void {
    if (st.winBytes >= LOAD_BYTES || this.covers(st, LOAD_BYTES, 0)) return;
    // A failure here is met again (and reported) by the take that needs the bytes.
    this.load(source, st, 2 * LOAD_BYTES, 0).catch(() => undefined);
  }

  /** Drops the consumed front of the window array once it dominates. */
  private compact(st: SourceState): void {
    if (st.winAt > 1024 && st.winAt * 2 > st.win.length) {
      st.win = st.win.slice(st.winAt);
      st.winAt = 0;
    }
  }

  private countUsage(st: SourceState, bytes: number): void {
    const hour = BigInt(Math.floor(Date.now() / HOUR_MS));
    // The current bucket is kept in memory; a new hour (or the first request
    // after a restart) starts from what is stored for that hour, if anything.
    if (st.usage?.hour !== hour) st.usage = { hour, requests: 0n, bytes: 0n };
    st.usage.requests++;
    st.usage.bytes += BigInt(bytes);
    st.usageDirty = true;
  }

  /** Group commit: the counters and usage as of the moment a batch is cut go into it. */
  private cut(): { ops: BatchOp[]; done: () => void } {
    const ops: BatchOp[] = [];
    const after: (() => void)[] = [];
    for (const s of SOURCES) {
      const st = this.state[s];
      const now = { ...st.counters };
      for (const n of COUNTERS) if (now[n] !== st.persisted[n]) ops.push({ type: "put", key: counterKey(s, n), value: u64(now[n]) });
      if (st.usageDirty && st.usage) {
        ops.push({ type: "put", key: usageKey(s, st.usage.hour), value: Buffer.concat([u64(st.usage.requests), u64(st.usage.bytes)]) });
        st.usageDirty = false;
      }
      after.push(() => (st.persisted = now));
    }
    return { ops, done: () => after.forEach((f) => f()) };
  }

  /**
   * A write failed: memory is ahead of the database. Mutations queued since
   * were computed on top of it, so they fail too; the next mutation first
   * reloads the state from what the database holds.
   */
  private writeFailed(): void {
    this.epoch++;
    this.needsReload = true;
    this.commits.abandon(new Error("an earlier database write failed; retry"));
  }

  private async reload(): Promise<void> {
    const p = await readPersisted(this.db);
    for (const s of SOURCES) {
      const st = this.state[s];
      st.counters = { ...p.counters[s] };
      st.persisted = p.counters[s];
      st.win = [];
      st.winAt = 0;
      st.winBytes = 0;
      st.winEnd = p.heads[s];
      st.usage = p.usage[s];
      st.usageDirty = false;
    }
    this.epoch++;
    this.needsReload = false;
  }
}

function zeroCounters(): SourceCounters {
  return { next_id: 0n, items: 0n, polling: 0n, dropped: 0n, consumed: 0n, total_generated: 0n };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
