// Consumption made durable with one fsync per reservation instead of one per take.
//
// Before a consume-mode take answers, its bytes must be unservable for good,
// power loss included. Deleting them with a synced write does that at the cost
// of an fsync per take. Instead each source keeps a persisted id, `reserved`:
// every item below it may have been served. A take that serves only below it
// answers at once and its deletes are written behind it; one that reaches past
// it raises it (past the take, plus RESERVE_AHEAD_BYTES) in a synced batch
// first. Takes raise it early, once half the reserve is used, so in a steady
// stream of takes that raise is on disk before anyone needs it. A crash, power
// loss or failed write may then lose deletes, but every rebuild of the state
// from the database (opening the store, reloading after a failed write) drops
// the items still below `reserved` (counted as dropped), so nothing served
// comes back. A clean close lowers `reserved` to the queue's head, so only an
// unclean stop costs anything: the reserved-but-unserved rest, at most the
// reserve.
import type { Served } from "./head-window.js";
import { parseSegmentKey, segmentKey, segmentsFrom } from "./keys.js";
import { counterOps, SOURCES, type Persisted, type SourceCounters } from "./persisted-state.js";
import type { QueueCipher } from "./queue-cipher.js";
import type { BatchOp, Rocks } from "./rocks.js";
import { itemsFrom } from "./segments.js";
import type { SourceName } from "./types.js";

/**
 * Bytes reserved beyond a take. Fortuna: 1 MiB, an fsync per ten 100 KB
 * takes, and little to lose (Fortuna refills at tens of MB/s). TRNG: none;
 * chip output is scarce (~1 KB/s) and its takes are small, so each one that
 * moves past the reservation syncs, as if there were none.
 */
export const RESERVE_AHEAD_BYTES: Record<SourceName, number> = { trng: 0, fortuna: 1 << 20 };

/**
 * What a consuming take must wait for before it answers:
 * - "covered": what it served lies below the reservation already on disk, so
 *   nothing; its deletes are written behind it (a crash or failed write before
 *   they land leaves the bytes below the reservation, and they are dropped);
 * - "ahead": covered too, and it raises the reservation before it runs out
 *   (a synced write the take does not wait for);
 * - "pending": below a raised reservation still being written: that write;
 * - "raise": past the reservation, which this take raises: a synced write.
 */
export type Durability = "covered" | "ahead" | "pending" | "raise";

/** Decides a consuming take's Durability, raising `c.reserved` when it has to or soon will. */
export function reserve(source: SourceName, c: SourceCounters, onDisk: bigint, served: Served): Durability {
  const ahead = BigInt(Math.ceil(RESERVE_AHEAD_BYTES[source] / Math.max(1, served.itemBytes)));
  if (served.last < onDisk) {
    // Half the reserve left and no raise in flight: raise now, while this
    // take needs no wait, so the takes after it find the new one on disk.
    if (ahead === 0n || c.reserved > onDisk || onDisk - served.last > ahead / 2n) return "covered";
    c.reserved = served.last + 1n + ahead;
    return "ahead";
  }
  if (served.last < c.reserved) return "pending";
  c.reserved = served.last + 1n + ahead;
  return "raise";
}

/** Whether a take's batch must be synced, and whether the take waits for it. */
export const syncs = (d: Durability | undefined) => d === "raise" || d === "ahead";
export const waits = (d: Durability | undefined) => d === "raise" || d === "pending";

/** Lowers a reservation to the queue's head, for a clean close: nothing is lost on the next open. */
export function release(c: SourceCounters, head: bigint): void {
  if (c.reserved > head) c.reserved = head;
}

/**
 * On open: drops, with one synced batch, every stored item below its source's
 * reservation (an unclean stop may have served it and lost the delete).
 * Returns whether anything changed (the caller then reads the state again).
 * A segment reaching past the reservation keeps its rest, encrypted again with
 * fresh keystream (queue-cipher.ts).
 */
export async function dropReserved(db: Rocks, p: Persisted, cipher: QueueCipher): Promise<boolean> {
  const ops: BatchOp[] = [];
  for (const s of SOURCES) {
    const c = p.counters[s];
    if (c.reserved <= p.heads[s]) continue;
    let dropped = 0n;
    await db.scan({ gte: segmentsFrom(s, p.heads[s]), lt: segmentsFrom(s, c.reserved) }, (k, v) => {
      const key = parseSegmentKey(k);
      const below = c.reserved - key.first < BigInt(key.count) ? Number(c.reserved - key.first) : key.count;
      ops.push({ type: "del", key: k });
      if (below < key.count) {
        const seg = { ...key, data: cipher.open(v) };
        const rest = itemsFrom(seg, below)!;
        ops.push({ type: "put", key: segmentKey(s, rest), value: cipher.seal(rest.data) });
        seg.data.fill(0);
      }
      dropped += BigInt(below);
    });
    const now = { ...c, items: c.items - dropped, dropped: c.dropped + dropped };
    counterOps(s, now, c, ops);
  }
  if (ops.length === 0) return false;
  await db.batch(ops, true);
  return true;
}
