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
/**
 * Shortest time between two compactions. Item keys only grow, but a flushed
 * file holds the newest puts beside the oldest deletes, so it spans the
 * whole queue and a compaction of what lies below the head rewrites the
 * whole queue with it: every 16 MiB would rewrite a 64 MiB queue four times
 * over (docs/performance.md, "Gateway binary 100000"). So a compaction also
 * waits until at least the queue's own size has left it, and removals within
 * the interval wait for one at its end: a burst still ends compacted, and an
 * idle store stays untouched.
 */
export const COMPACT_INTERVAL_MS = 10_000;

export class Compactor {
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<SourceQueue>();
  private last = -Infinity;

  /**
   * @param afterBytes removed bytes between compactions (tests lower it);
   * @param intervalMs shortest time between compactions (tests lower it);
   * @param flushed resolves once what was queued for writing is written, so
   *   a compaction covers the deletes made before it started.
   */
  constructor(
    private readonly db: Rocks,
    private readonly afterBytes: number,
    private readonly intervalMs: number,
    private readonly flushed: () => Promise<void>,
  ) {}

  /** After a mutation of `st`: compacts what lies below its head once enough (at least the queue's size) has left it, at most once an interval. */
  check(st: SourceQueue): void {
    if (st.removedBytes < Math.max(this.afterBytes, Number(st.counters.items) * st.itemBytes)) return;
    this.pending.add(st);
    if (this.running || this.timer) return; // what runs or waits will look at `st` too
    const wait = this.last + this.intervalMs - performance.now();
    if (wait <= 0) this.start();
    else this.timer = setTimeout(() => this.start(), wait).unref();
  }

  /** Resolves once no compaction is running. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Drops a waiting compaction and resolves once none is running (before the database closes). */
  stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.idle();
  }

  private start(): void {
    this.timer = undefined;
    this.last = performance.now();
    const ranges = [...this.pending].map((st) => {
      st.removedBytes = 0;
      return [itemPrefix(st.source), segmentsFrom(st.source, st.window.head)] as const;
    });
    this.pending.clear();
    // A failure costs only space, and the next check tries again.
    this.running = this.flushed()
      .then(async () => {
        for (const [from, below] of ranges) await this.db.compactRange(from, below);
      })
      .catch(() => undefined)
      .finally(() => (this.running = undefined));
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
