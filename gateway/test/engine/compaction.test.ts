// The database stays bounded however long the queues are filled and drained
// (gateway/README.md, "Feeding the queues"): what left a queue is compacted
// out of the files. Timing is accelerated: a compaction every 512 KiB removed
// instead of every COMPACT_AFTER_BYTES, and with no interval between them
// (COMPACT_INTERVAL_MS), so a few seconds of cycles stand for hours.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { QueueStore } from "../../src/engine/queue-store.js";
import { Rocks } from "../../src/engine/rocks.js";
import { directorySize } from "../../src/engine/stats.js";
import { until } from "../../../test/e2e/poll.js";
import { balanced, tempDir, TEST_KEY } from "./helpers.js";

const COMPACT_AFTER_BYTES = 512 * 1024;
const SIZES = { trng: 200, fortuna: 256 };

/** Fortuna filled with 64 KiB messages and TRNG past full with one sample a message (the oldest dropped), then both drained. */
async function cycle(store: QueueStore): Promise<void> {
  while (!store.isFull("fortuna")) await store.enqueue("fortuna", randomBytes(64 * 1024), 1024);
  for (let i = 0; i < SIZES.trng + 50; i++) await store.enqueue("trng", randomBytes(32), 32);
  while ((await store.takeSome("fortuna", 100_000)).length > 0);
  while ((await store.takeSome("trng", 1000)).length > 0);
  await store.settled();
}

test("over many fill/drain cycles the database stays within a small factor of its size after the first few", { timeout: 180_000 }, async () => {
  const dir = tempDir("soak");
  const store = await QueueStore.open(join(dir.path, "db"), { sizes: SIZES, consume: true }, { key: TEST_KEY, compactAfterBytes: COMPACT_AFTER_BYTES, compactIntervalMs: 0 });
  try {
    const sizes: number[] = [];
    for (let c = 0; c < 80; c++) {
      await cycle(store);
      sizes.push(Number(await directorySize(store.path)));
    }
    // ~21 MB went through the queues; without compaction the write-ahead log alone would hold it all.
    const early = Math.max(...sizes.slice(0, 5));
    const late = Math.max(...sizes.slice(-10));
    assert.ok(late <= 2 * early, `after 80 cycles the database is ${late} bytes, after the first 5 at most ${early} (all: ${sizes.join(" ")})`);
    assert.ok(balanced(store.counters("fortuna")) && balanced(store.counters("trng")));
    assert.equal(store.counters("fortuna").consumed, BigInt(80 * SIZES.fortuna));
  } finally {
    await store.close();
    dir.remove();
  }
});

test("compactions are spaced out under sustained removal, and a burst still ends compacted", { timeout: 120_000 }, async () => {
  const dir = tempDir("burst");
  // The first compaction runs at once; the ones a burst would start within
  // the interval after it wait for one at its end.
  const store = await QueueStore.open(join(dir.path, "db"), { sizes: SIZES, consume: true }, { key: TEST_KEY, compactAfterBytes: COMPACT_AFTER_BYTES, compactIntervalMs: 3000 });
  try {
    await cycle(store);
    const early = Number(await directorySize(store.path));
    for (let c = 0; c < 12; c++) await cycle(store);
    const after = Number(await directorySize(store.path));
    // Without the compaction at the interval's end, the write-ahead log keeps the burst.
    const size = await until("the burst's compaction", async () => {
      const now = Number(await directorySize(store.path));
      return now <= 2 * early ? now : undefined;
    }, 60_000, () => `first cycle ${early} bytes, right after the burst ${after}`);
    assert.ok(size <= 2 * early);
  } finally {
    await store.close();
    dir.remove();
  }
});

test("usage buckets an older version wrote are dropped at open", async () => {
  const dir = tempDir("usage");
  const path = join(dir.path, "db");
  try {
    const db = await Rocks.open(path);
    const bucket = (source: string, hour: number) => ({ type: "put" as const, key: Buffer.concat([Buffer.from(`u/${source}/`), Buffer.alloc(8, hour)]), value: Buffer.alloc(16, 1) });
    await db.batch([bucket("trng", 1), bucket("trng", 2), bucket("fortuna", 1)], true);
    await db.close();
    const store = await QueueStore.open(path, { sizes: SIZES, consume: true }, { key: TEST_KEY });
    await store.close();
    const reopened = await Rocks.open(path);
    const left = await reopened.range({ gte: Buffer.from("u/"), lt: Buffer.from("u0") });
    await reopened.close();
    assert.deepEqual(left, []);
  } finally {
    dir.remove();
  }
});
