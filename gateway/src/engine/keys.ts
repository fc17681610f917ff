// The database layout (seed document, "Database Design", mapped onto one
// ordered RocksDB keyspace instead of BoltDB buckets):
//   q/<source>/<u64 be id>      raw item bytes (FIFO: big-endian ids sort in arrival order)
//   c/<source>/<counter>        u64 be counters, written in the same batch as the items they count
//   cfg/queue_size/<source>     u64 be, queue capacity in items
//   cfg/consume                 one byte, 1 = delete on read
//   u/<source>/<u64 be hour>    usage per hour bucket: u64 be requests, u64 be bytes served
import type { SourceName } from "./types.js";

export const COUNTERS = ["next_id", "items", "polling", "dropped", "consumed", "total_generated"] as const;
export type CounterName = (typeof COUNTERS)[number];

export function u64(n: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(n);
  return b;
}

export const readU64 = (b: Buffer, at = 0): bigint => b.readBigUInt64BE(at);

const itemPrefixes = new Map<SourceName, Buffer>();
/** `q/<source>/`; the range of a source's items is [prefix, prefix with '/' bumped to '0'). */
export function itemPrefix(source: SourceName): Buffer {
  let p = itemPrefixes.get(source);
  if (!p) itemPrefixes.set(source, (p = Buffer.from(`q/${source}/`)));
  return p;
}

export const itemKey = (source: SourceName, id: bigint): Buffer => Buffer.concat([itemPrefix(source), u64(id)]);
export const itemsEnd = (source: SourceName): Buffer => Buffer.from(`q/${source}0`);
export const itemIdOf = (key: Buffer): bigint => key.readBigUInt64BE(key.length - 8);

export const counterKey = (source: SourceName, name: CounterName): Buffer => Buffer.from(`c/${source}/${name}`);
export const countersStart = Buffer.from("c/");
export const countersEnd = Buffer.from("c0");

export const queueSizeKey = (source: SourceName): Buffer => Buffer.from(`cfg/queue_size/${source}`);
export const consumeKey = Buffer.from("cfg/consume");

export const usageKey = (source: SourceName, hour: bigint): Buffer => Buffer.concat([Buffer.from(`u/${source}/`), u64(hour)]);
export const usageStart = (source: SourceName): Buffer => Buffer.from(`u/${source}/`);
export const usageEnd = (source: SourceName): Buffer => Buffer.from(`u/${source}0`);
