// Which key the queued values were written under, checked once at start-up.
// By default the queue key lives in memory only (queue-cipher.ts), so after a
// restart what is queued can't be read: it is dropped, counted as dropped, and
// the queues refill (Fortuna in milliseconds, the TRNG at the chip's speed).
// With QUEUE_KEY_FILE the key is the same at every start and the queues are
// kept. Counters, settings and the reservation (reservation.ts) are not
// encrypted and survive either way; dropping items only moves the head.
import type { BatchOp, Rocks } from "./rocks.js";
import { itemPrefix, itemsEnd, parseSegmentKey, queueKeyCheckKey } from "./keys.js";
import { counterOps, readPersisted, SOURCES } from "./persisted-state.js";
import type { SourceName } from "./types.js";

/** Entries deleted per batch while dropping, so a long queue never makes one huge batch. */
const DROP_CHUNK = 4096;

/** What start-up found about the queues' encryption. */
export interface KeyCheck {
  /** Items dropped because they were written under another key (or none). */
  dropped: Record<SourceName, bigint>;
  /** They were written by a version that stored queues unencrypted. */
  unencrypted: boolean;
}

/**
 * Drops every queued item not written under the key whose check value is
 * `check`, then stores `check`. Each batch deletes a run of entries and counts
 * them as dropped, so counters balance at every step; the check value is
 * written last (synced), so a crash midway leaves a database that is checked,
 * and dropped from, again at the next start. Values stored unencrypted by an
 * older version are then also compacted out of the database's files.
 */
export async function dropUnderOtherKey(db: Rocks, check: Buffer): Promise<KeyCheck> {
  const [[, stored] = []] = await db.range({ gte: queueKeyCheckKey, lt: Buffer.concat([queueKeyCheckKey, Buffer.from([0])]), limit: 1 });
  const result: KeyCheck = { dropped: { trng: 0n, fortuna: 0n }, unencrypted: false };
  if (stored?.equals(check)) return result;
  const { counters } = await readPersisted(db);
  for (const s of SOURCES) {
    let c = counters[s];
    let after: Buffer | undefined;
    for (;;) {
      const ops: BatchOp[] = [];
      let items = 0n;
      // From past the last deleted key: seeking over the deletes again would cost more each round.
      await db.scan({ ...(after ? { gt: after } : { gte: itemPrefix(s) }), lt: itemsEnd(s), limit: DROP_CHUNK, values: false }, (k) => {
        items += BigInt(parseSegmentKey(k).count);
        ops.push({ type: "del", key: k });
        after = k;
      });
      if (ops.length === 0) break;
      const now = { ...c, items: c.items - items, dropped: c.dropped + items };
      counterOps(s, now, c, ops);
      await db.batch(ops, false);
      c = now;
      result.dropped[s] += items;
    }
  }
  await db.batch([{ type: "put", key: queueKeyCheckKey, value: check }], true);
  result.unencrypted = stored === undefined && result.dropped.trng + result.dropped.fortuna > 0n;
  if (result.unencrypted) await db.compactRange(Buffer.from("q/"), Buffer.from("q0"));
  return result;
}
