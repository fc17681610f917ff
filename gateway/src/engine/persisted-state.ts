// What the queue store keeps besides the items themselves, as stored under
// the layout of keys.ts: the per-source counters, where each queue starts,
// and the queue-size and consume settings.
import type { BatchOp, Rocks } from "./rocks.js";
import {
  COUNTERS, consumeKey, counterKey, countersEnd, countersStart, itemPrefix, itemsEnd, parseSegmentKey,
  queueSizeKey, readU64, u64, type CounterName,
} from "./keys.js";
import type { QueueSizes, SourceName } from "./types.js";

export const SOURCES: readonly SourceName[] = ["trng", "fortuna"];

export type SourceCounters = Record<CounterName, bigint>;

export interface Persisted {
  counters: Record<SourceName, SourceCounters>;
  heads: Record<SourceName, bigint>;
}

export function zeroCounters(): SourceCounters {
  return { next_id: 0n, items: 0n, polling: 0n, dropped: 0n, consumed: 0n, total_generated: 0n, reserved: 0n };
}

/** Counters and head positions (one seek each, no full scan) as stored. */
export async function readPersisted(db: Rocks): Promise<Persisted> {
  const counters = { trng: zeroCounters(), fortuna: zeroCounters() };
  await db.scan({ gte: countersStart, lt: countersEnd }, (k, v) => {
    const [, source, name] = k.toString("latin1").split("/");
    const c = counters[source as SourceName];
    if (c && (COUNTERS as readonly string[]).includes(name) && v.length === 8) c[name as CounterName] = readU64(v);
  });
  const heads = { trng: 0n, fortuna: 0n };
  for (const s of SOURCES) {
    const [first] = await db.range({ gte: itemPrefix(s), lt: itemsEnd(s), limit: 1 });
    const [last] = await db.range({ gte: itemPrefix(s), lt: itemsEnd(s), limit: 1, reverse: true });
    const c = counters[s];
    if (last) {
      const l = parseSegmentKey(last[0]);
      if (l.first + BigInt(l.count) > c.next_id) c.next_id = l.first + BigInt(l.count);
    }
    if (!first) c.items = 0n;
    heads[s] = first ? parseSegmentKey(first[0]).first : c.next_id;
  }
  return { counters, heads };
}

/** Puts for the counters of `now` that differ from `persisted`. */
export function counterOps(source: SourceName, now: SourceCounters, persisted: SourceCounters, ops: BatchOp[]): void {
  for (const n of COUNTERS) if (now[n] !== persisted[n]) ops.push({ type: "put", key: counterKey(source, n), value: u64(now[n]) });
}

export const queueSizeOp = (source: SourceName, n: number): BatchOp => ({ type: "put", key: queueSizeKey(source), value: u64(BigInt(n)) });
export const consumeOp = (consume: boolean): BatchOp => ({ type: "put", key: consumeKey, value: Buffer.from([consume ? 1 : 0]) });

/**
 * The stored settings, `defaults` where nothing is stored yet; `init` holds
 * the puts that store those defaults.
 */
export async function readSettings(
  db: Rocks,
  defaults: { sizes: QueueSizes; consume: boolean },
): Promise<{ sizes: QueueSizes; consume: boolean; init: BatchOp[] }> {
  const sizes = { ...defaults.sizes };
  let consume = defaults.consume;
  const init: BatchOp[] = [];
  for (const s of SOURCES) {
    const [[, v] = []] = await db.range({ gte: queueSizeKey(s), lt: Buffer.concat([queueSizeKey(s), Buffer.from([0])]), limit: 1 });
    if (v?.length === 8) sizes[s] = Number(readU64(v));
    else init.push(queueSizeOp(s, sizes[s]));
  }
  const [[, cv] = []] = await db.range({ gte: consumeKey, lt: Buffer.concat([consumeKey, Buffer.from([0])]), limit: 1 });
  if (cv?.length === 1) consume = cv[0] === 1;
  else init.push(consumeOp(consume));
  return { sizes, consume, init };
}
