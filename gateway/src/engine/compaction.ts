// Keeping the database's files bounded. A served or dropped entry is only a
// tombstone until a compaction drops it with the value it hides; until then
// both stay in the write-ahead log and the SST files, and a queue that is
// filled and drained all day keeps adding them. So once enough of a source's
// queue has left it, the key range below its head (all deleted) is compacted:
// RocksDB flushes the memtable, which frees the log, and rewrites the files
// holding that range without it (gateway/README.md, "Feeding the queues").
// Only removals trigger it, so an idle store never compacts (no idle wear).
import { itemPrefix, retiredUsageRange, segmentsFrom } from "./keys.js";
import type { BatchOp, Rocks } from "./rocks.js";
import type { SourceQueue } from "./source-queue.js";

/**
 * Bytes served or dropped from one source between compactions: half the
 * write buffer (rocks.ts), so the log stays under it, and the memtable is
 * flushed by a compaction about as often as it would fill up by itself:
 * compacting adds little writing.
 */
export const COMPACT_AFTER_BYTES = 16 * 1024 * 1024;

export class Compactor {
  private running: Promise<void> | undefined;

  /**
   * @param afterBytes removed bytes between compactions (tests lower it);
   * @param flushed resolves once what was queued for writing is written, so
   *   a compaction covers the deletes made before it started.
   */
  constructor(
    private readonly db: Rocks,
    private readonly afterBytes: number,
    private readonly flushed: () => Promise<void>,
  ) {}

  /** After a mutation of `st`: starts a compaction of what lies below its head once enough has left it. */
  check(st: SourceQueue): void {
    if (st.removedBytes < this.afterBytes || this.running) return;
    st.removedBytes = 0;
    const below = segmentsFrom(st.source, st.window.head);
    // A failure costs only space, and the next check tries again.
    this.running = this.flushed()
      .then(() => this.db.compactRange(itemPrefix(st.source), below))
      .catch(() => undefined)
      .finally(() => (this.running = undefined));
  }

  /** Resolves once no compaction is running (before the database closes). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}

/** Deletes the usage buckets older versions wrote and never read (keys.ts), and compacts them out. */
export async function dropRetiredUsage(db: Rocks): Promise<void> {
  const ops: BatchOp[] = [];
  await db.scan({ gte: retiredUsageRange.start, lt: retiredUsageRange.end, values: false }, (key) => {
    ops.push({ type: "del", key });
  });
  if (ops.length === 0) return;
  await db.batch(ops, true);
  await db.compactRange(retiredUsageRange.start, retiredUsageRange.end);
}
