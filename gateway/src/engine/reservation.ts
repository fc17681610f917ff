// Consumption made durable with one fsync per reservation instead of one per take.
//
// Before a consume-mode take answers, its bytes must be unservable for good,
// power loss included. Deleting them with a synced write does that at the cost
// of an fsync per take. Instead each source keeps a persisted id, `reserved`:
// every item below it may have been served. A take that serves only below it
// writes its deletes without waiting for the disk; one that reaches past it
// raises it (past the take, plus RESERVE_AHEAD_BYTES) in a synced batch first.
// A power loss may then undo unsynced deletes, but opening the store drops every
// item still below `reserved` (counted as dropped), so nothing served comes
// back. A clean close lowers `reserved` to the queue's head, so only an unclean
// stop costs anything: the reserved-but-unserved rest, at most the reserve.
import type { Served } from "./head-window.js";
import { parseSegmentKey, segmentKey, segmentsFrom } from "./keys.js";
import { counterOps, SOURCES, type Persisted, type SourceCounters } from "./persisted-state.js";
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

/** Raises `c.reserved` past what a consuming take served; true when that must be synced before the take answers. */
export function reserve(source: SourceName, c: SourceCounters, served: Served): boolean {
  if (served.last < c.reserved) return false;
  const ahead = Math.ceil(RESERVE_AHEAD_BYTES[source] / Math.max(1, served.itemBytes));
  c.reserved = served.last + 1n + BigInt(ahead);
  return true;
}

/** Lowers a reservation to the queue's head, for a clean close: nothing is lost on the next open. */
export function release(c: SourceCounters, head: bigint): void {
  if (c.reserved > head) c.reserved = head;
}

/**
 * On open: drops, with one synced batch, every stored item below its source's
 * reservation (an unclean stop may have served it and lost the delete).
 * Returns whether anything changed (the caller then reads the state again).
 */
export async function dropReserved(db: Rocks, p: Persisted): Promise<boolean> {
  const ops: BatchOp[] = [];
  for (const s of SOURCES) {
    const c = p.counters[s];
    if (c.reserved <= p.heads[s]) continue;
    let dropped = 0n;
    await db.scan({ gte: segmentsFrom(s, p.heads[s]), lt: segmentsFrom(s, c.reserved) }, (k, v) => {
      const seg = { ...parseSegmentKey(k), data: v };
      const below = c.reserved - seg.first < BigInt(seg.count) ? Number(c.reserved - seg.first) : seg.count;
      ops.push({ type: "del", key: k });
      const rest = itemsFrom(seg, below);
      if (rest) ops.push({ type: "put", key: segmentKey(s, rest), value: rest.data });
      dropped += BigInt(below);
    });
    const now = { ...c, items: c.items - dropped, dropped: c.dropped + dropped };
    counterOps(s, now, c, ops);
  }
  if (ops.length === 0) return false;
  await db.batch(ops, true);
  return true;
}
