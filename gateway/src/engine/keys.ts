// The database layout (docs/reference/original-design.md, "Database layout", mapped onto one
// ordered RocksDB keyspace instead of BoltDB buckets):
//   q/<source>/<u64 be first id><u32 be count><u32 be length>
//                               a segment: the bytes of `count` consecutive items, encrypted
//                               (queue-cipher.ts: 16 bytes saying where in the keystream, then the ciphertext) (FIFO:
//                               big-endian ids sort in arrival order). Every item is `length`
//                               bytes but the first, which may be shorter (its front was
//                               served). Items that arrive together share one entry, so a
//                               request for 100 KB touches a few entries, not a hundred.
//   c/<source>/<counter>        u64 be counters, written in the same batch as the items they count
//                               (and `reserved`, the id below which items may have been served: reservation.ts)
//   cfg/queue_size/<source>     u64 be, queue capacity in items
//   cfg/consume                 one byte, 1 = delete on read
//   cfg/queue_key_check         16 bytes derived from the queue key: which key the segments are
//                               encrypted under (queue-key.ts)
//   cfg/mark_generation         u64 be, the last write the served mark recorded (served-mark.ts)
//   u/<source>/<u64 be hour>    (older versions: usage per hour, never read; dropped at open, compaction.ts)
import type { SourceName } from "./types.js";

export const COUNTERS = ["next_id", "items", "polling", "dropped", "consumed", "total_generated", "reserved"] as const;
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

export interface SegmentKey {
  /** Id of the segment's first item. */
  first: bigint;
  count: number;
  /** Bytes of each item but the first. */
  itemBytes: number;
}

const SEGMENT_SUFFIX_BYTES = 16;

export function segmentKey(source: SourceName, s: SegmentKey): Buffer {
  const prefix = itemPrefix(source);
  const k = Buffer.allocUnsafe(prefix.length + SEGMENT_SUFFIX_BYTES);
  prefix.copy(k);
  k.writeBigUInt64BE(s.first, prefix.length);
  k.writeUInt32BE(s.count, prefix.length + 8);
  k.writeUInt32BE(s.itemBytes, prefix.length + 12);
  return k;
}

/** Sorts after every segment whose first item is below `id`, and before the rest. */
export const segmentsFrom = (source: SourceName, id: bigint): Buffer => Buffer.concat([itemPrefix(source), u64(id)]);
export const itemsEnd = (source: SourceName): Buffer => Buffer.from(`q/${source}0`);

export function parseSegmentKey(key: Buffer): SegmentKey {
  // After `q/<source>/` (source names hold no '/').
  const at = key.indexOf(0x2f, 2) + 1;
  if (at === 0 || key.length !== at + SEGMENT_SUFFIX_BYTES) {
    throw new Error(`queue entry ${key.toString("latin1")} is not in this version's layout (move the old database away from DB_PATH)`);
  }
  return { first: key.readBigUInt64BE(at), count: key.readUInt32BE(at + 8), itemBytes: key.readUInt32BE(at + 12) };
}

export const counterKey = (source: SourceName, name: CounterName): Buffer => Buffer.from(`c/${source}/${name}`);
export const countersStart = Buffer.from("c/");
export const countersEnd = Buffer.from("c0");

export const queueSizeKey = (source: SourceName): Buffer => Buffer.from(`cfg/queue_size/${source}`);
export const consumeKey = Buffer.from("cfg/consume");
export const queueKeyCheckKey = Buffer.from("cfg/queue_key_check");

/** The range older versions kept usage per hour in: [start, end). */
export const retiredUsageRange = { start: Buffer.from("u/"), end: Buffer.from("u0") };
