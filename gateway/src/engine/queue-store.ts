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
import { Rocks, type BatchOp } from "./rocks.js";
import { Mutex, Pulse } from "./lock.js";
import {
  COUNTERS, consumeKey, counterKey, countersEnd, countersStart, itemIdOf, itemKey, itemPrefix, itemsEnd,
  queueSizeKey, readU64, u64, usageEnd, usageKey, usageStart, type CounterName,
} from "./keys.js";
import type { QueueSizes, SourceName } from "./types.js";

export const SOURCES: readonly SourceName[] = ["trng", "fortuna"];
const HOUR_MS = 3_600_000;

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
   * throws (then nothing is consumed). Called while the source is locked.
   */
  fill?: (n: number) => Promise<Uint8Array>;
}

interface SourceState {
  lock: Mutex;
  counters: SourceCounters;
  /** No item has an id below this: where head scans start (skips deleted keys' tombstones). */
  head: bigint;
  usage?: { hour: bigint; requests: bigint; bytes: bigint };
  /** Fires after items were added. */
  added: Pulse;
  /** Fires after items were removed or capacity grew. */
  room: Pulse;
}

interface Touched {
  id: bigint;
  data: Buffer;
  /** Served slice of this item: [from, to). */
  from: number;
  to: number;
}

export class QueueStore {
  private readonly state: Record<SourceName, SourceState>;

  private constructor(
    private readonly db: Rocks,
    private sizes: QueueSizes,
    private consume: boolean,
    counters: Record<SourceName, SourceCounters>,
    heads: Record<SourceName, bigint>,
  ) {
    const mk = (s: SourceName): SourceState => ({ lock: new Mutex(), counters: counters[s], head: heads[s], added: new Pulse(), room: new Pulse() });
    this.state = { trng: mk("trng"), fortuna: mk("fortuna") };
  }

  /** Opens (creating) the store; `defaults` apply only where nothing is persisted yet. */
  static async open(path: string, defaults: { sizes: QueueSizes; consume: boolean }): Promise<QueueStore> {
    const db = await Rocks.open(path);
    try {
      const counters = { trng: zeroCounters(), fortuna: zeroCounters() };
      await db.scan({ gte: countersStart, lt: countersEnd }, (k, v) => {
        const [, source, name] = k.toString("latin1").split("/");
        const c = counters[source as SourceName];
        if (c && (COUNTERS as readonly string[]).includes(name) && v.length === 8) c[name as CounterName] = readU64(v);
      });
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

      // Head and tail from one seek each: the first and last key of the range.
      const heads = { trng: 0n, fortuna: 0n };
      for (const s of SOURCES) {
        const [first] = await db.range({ gte: itemPrefix(s), lt: itemsEnd(s), limit: 1 });
        const [last] = await db.range({ gte: itemPrefix(s), lt: itemsEnd(s), limit: 1, reverse: true });
        const c = counters[s];
        if (last && itemIdOf(last[0]) >= c.next_id) c.next_id = itemIdOf(last[0]) + 1n;
        if (!first) c.items = 0n;
        heads[s] = first ? itemIdOf(first[0]) : c.next_id;
      }
      const store = new QueueStore(db, sizes, consume, counters, heads);
      for (const s of SOURCES) {
        const [last] = await db.range({ gte: usageStart(s), lt: usageEnd(s), limit: 1, reverse: true });
        if (last) store.state[s].usage = { hour: itemIdOf(last[0]), requests: readU64(last[1], 0), bytes: readU64(last[1], 8) };
      }
      return store;
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
  enqueue(source: SourceName, items: Uint8Array[], polls = items.length): Promise<{ dropped: number }> {
    const st = this.state[source];
    return st.lock.run(async () => {
      const c = { ...st.counters };
      const cap = BigInt(this.sizes[source]);
      const incoming = BigInt(items.length);
      const stored = incoming > cap ? items.slice(items.length - Number(cap)) : items;
      const overflow = c.items + BigInt(stored.length) - cap;
      const ops: BatchOp[] = [];
      let head = st.head;
      if (overflow > 0n) head = await this.dropOldest(source, Number(overflow), ops);
      const dropped = incoming - BigInt(stored.length) + (overflow > 0n ? overflow : 0n);
      for (const item of stored) ops.push({ type: "put", key: itemKey(source, c.next_id++), value: Buffer.from(item.buffer, item.byteOffset, item.byteLength) });
      c.items += BigInt(stored.length) - (overflow > 0n ? overflow : 0n);
      c.dropped += dropped;
      c.polling += BigInt(polls);
      c.total_generated += incoming;
      await this.db.batch([...ops, ...this.counterOps(source, c, st.counters)], false);
      st.counters = c;
      st.head = head;
      if (stored.length > 0) st.added.fire();
      return { dropped: Number(dropped) };
    });
  }

  /** Counts upstream fetches that stored nothing (direct pulls for a shortfall). */
  addPolls(source: SourceName, polls: number): Promise<void> {
    const st = this.state[source];
    return st.lock.run(async () => {
      const c = { ...st.counters, polling: st.counters.polling + BigInt(polls) };
      await this.db.batch(this.counterOps(source, c, st.counters), false);
      st.counters = c;
    });
  }

  /**
   * All or nothing: skips `offset` bytes from the head, returns the next
   * `bytes` bytes (completed by `fill` when the queue is short), or null with
   * nothing changed. Consume: served bytes are deleted with a synced batch;
   * skipped bytes and the unserved rest of a partly served item stay.
   */
  take(source: SourceName, bytes: number, offset: number, opts: TakeOptions): Promise<Uint8Array | null> {
    const st = this.state[source];
    return st.lock.run(async () => {
      const want = offset + bytes;
      const touched: Touched[] = [];
      let seen = 0;
      await this.db.scan({ gte: itemKey(source, st.head), lt: itemsEnd(source) }, (k, v) => {
        const start = seen;
        seen += v.length;
        if (seen > offset) touched.push({ id: itemIdOf(k), data: v, from: Math.max(0, offset - start), to: Math.min(v.length, want - start) });
        return seen < want;
      });
      let extra: Uint8Array | undefined;
      if (seen < want) {
        if (!opts.fill) return null;
        try {
          extra = await opts.fill(want - Math.max(seen, offset));
        } catch {
          return null;
        }
      }
      const parts: Uint8Array[] = touched.map((t) => t.data.subarray(t.from, t.to));
      if (extra) parts.push(extra);
      const out = concat(parts, bytes);

      const c = { ...st.counters };
      const ops: BatchOp[] = [];
      let head = st.head;
      if (opts.consume) {
        for (const t of touched) {
          if (t.from === 0 && t.to === t.data.length) {
            ops.push({ type: "del", key: itemKey(source, t.id) });
            c.items--;
            c.consumed++;
          } else {
            ops.push({ type: "put", key: itemKey(source, t.id), value: Buffer.concat([t.data.subarray(0, t.from), t.data.subarray(t.to)]) });
          }
        }
        // The head moves only past items served from the very front.
        if (offset === 0) {
          for (const t of touched) {
            if (t.from !== 0 || t.to !== t.data.length) break;
            head = t.id + 1n;
          }
        }
      }
      ops.push(...this.usageOps(source, st, bytes));
      await this.db.batch([...ops, ...this.counterOps(source, c, st.counters)], opts.consume);
      const removed = c.items < st.counters.items;
      st.counters = c;
      st.head = head;
      if (removed || opts.consume) st.room.fire();
      return out;
    });
  }

  /** Between 0 and `maxBytes` bytes from the head, always consumed (durably). */
  takeSome(source: SourceName, maxBytes: number): Promise<Uint8Array> {
    const st = this.state[source];
    return st.lock.run(async () => {
      const touched: Touched[] = [];
      let seen = 0;
      await this.db.scan({ gte: itemKey(source, st.head), lt: itemsEnd(source) }, (k, v) => {
        const take = Math.min(v.length, maxBytes - seen);
        seen += take;
        touched.push({ id: itemIdOf(k), data: v, from: 0, to: take });
        return seen < maxBytes;
      });
      if (seen === 0) return new Uint8Array(0);
      const c = { ...st.counters };
      const ops: BatchOp[] = [];
      let head = st.head;
      for (const t of touched) {
        if (t.to === t.data.length) {
          ops.push({ type: "del", key: itemKey(source, t.id) });
          c.items--;
          c.consumed++;
          head = t.id + 1n;
        } else {
          ops.push({ type: "put", key: itemKey(source, t.id), value: t.data.subarray(t.to) });
        }
      }
      ops.push(...this.usageOps(source, st, seen));
      await this.db.batch([...ops, ...this.counterOps(source, c, st.counters)], true);
      st.counters = c;
      st.head = head;
      st.room.fire();
      return concat(touched.map((t) => t.data.subarray(t.from, t.to)), seen);
    });
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
      await st.lock.run(async () => {
        const c = { ...st.counters };
        const ops: BatchOp[] = [{ type: "put", key: queueSizeKey(s), value: u64(BigInt(n)) }];
        let head = st.head;
        const excess = c.items - BigInt(n);
        if (excess > 0n) {
          head = await this.dropOldest(s, Number(excess), ops);
          c.items -= excess;
          c.dropped += excess;
        }
        await this.db.batch([...ops, ...this.counterOps(s, c, st.counters)], true);
        st.counters = c;
        st.head = head;
        this.sizes = { ...this.sizes, [s]: n };
        st.room.fire();
      });
    }
    return this.queueSizes();
  }

  async setConsumeMode(consume: boolean): Promise<boolean> {
    await this.db.batch([{ type: "put", key: consumeKey, value: Buffer.from([consume ? 1 : 0]) }], true);
    this.consume = consume;
    return consume;
  }

  /** Usage per hour bucket, oldest first. */
  async usage(source: SourceName): Promise<UsageBucket[]> {
    const rows = await this.db.range({ gte: usageStart(source), lt: usageEnd(source) });
    return rows.map(([k, v]) => ({ hourStartMs: Number(itemIdOf(k)) * HOUR_MS, requests: readU64(v, 0), bytes: readU64(v, 8) }));
  }

  /** Every item of a source in order (tests and tools; a full scan). */
  async items(source: SourceName): Promise<{ id: bigint; data: Buffer }[]> {
    const rows = await this.db.range({ gte: itemPrefix(source), lt: itemsEnd(source) });
    return rows.map(([k, v]) => ({ id: itemIdOf(k), data: v }));
  }

  async close(): Promise<void> {
    // Let in-flight mutations finish first.
    await Promise.all(SOURCES.map((s) => this.state[s].lock.run(async () => undefined)));
    await this.db.close();
  }

  /** Adds deletes of the `n` oldest items to `ops`; returns the new head bound. */
  private async dropOldest(source: SourceName, n: number, ops: BatchOp[]): Promise<bigint> {
    let head = this.state[source].head;
    await this.db.scan({ gte: itemKey(source, head), lt: itemsEnd(source), limit: n }, (k) => {
      ops.push({ type: "del", key: k });
      head = itemIdOf(k) + 1n;
    });
    return head;
  }

  private counterOps(source: SourceName, next: SourceCounters, prev: SourceCounters): BatchOp[] {
    return COUNTERS.filter((n) => next[n] !== prev[n]).map((n) => ({ type: "put", key: counterKey(source, n), value: u64(next[n]) }));
  }

  private usageOps(source: SourceName, st: SourceState, bytes: number): BatchOp[] {
    const hour = BigInt(Math.floor(Date.now() / HOUR_MS));
    // The current bucket is kept in memory; a new hour (or the first request
    // after a restart) starts from what is stored for that hour, if anything.
    if (st.usage?.hour !== hour) st.usage = { hour, requests: 0n, bytes: 0n };
    const u = st.usage;
    u.requests++;
    u.bytes += BigInt(bytes);
    const value = Buffer.concat([u64(u.requests), u64(u.bytes)]);
    return [{ type: "put", key: usageKey(source, hour), value }];
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
