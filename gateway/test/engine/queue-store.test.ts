import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { WINDOW_BYTES, type QueueStore } from "../../src/engine/queue-store.js";
import { queueStatus } from "../../src/engine/stats.js";
import { allBytes, balanced, bytesOf, openStore, tempDir, words, wordsOf } from "./helpers.js";

let dir: ReturnType<typeof tempDir>;
let store: QueueStore;
beforeEach(async () => {
  dir = tempDir();
  store = await openStore(dir.path);
});
afterEach(async () => {
  await store.close().catch(() => undefined);
  dir.remove();
});

describe("queue store", () => {
  test("FIFO: items come out in arrival order, sources are independent", async () => {
    await store.enqueue("trng", [bytesOf(1, 2), bytesOf(3, 4)]);
    await store.enqueue("fortuna", [bytesOf(9, 9, 9)]);
    await store.enqueue("trng", [bytesOf(5, 6)]);
    assert.deepEqual([...(await store.take("trng", 6, 0, { consume: true }))!], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...(await store.take("fortuna", 3, 0, { consume: true }))!], [9, 9, 9]);
    assert.equal(store.counters("trng").items, 0n);
    assert.equal(store.counters("trng").consumed, 3n);
  });

  test("capacity: the oldest items are dropped and counted, in the same write", async () => {
    for (let i = 0; i < 13; i++) await store.enqueue("trng", [bytesOf(i)]);
    const c = store.counters("trng");
    assert.equal(c.items, 10n);
    assert.equal(c.dropped, 3n);
    assert.equal(c.total_generated, 13n);
    assert.equal(c.polling, 13n);
    assert.deepEqual(await allBytes(store, "trng"), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // A batch larger than the whole queue keeps only its newest items.
    await store.enqueue("trng", Array.from({ length: 12 }, (_, i) => bytesOf(100 + i)));
    assert.deepEqual(await allBytes(store, "trng"), [102, 103, 104, 105, 106, 107, 108, 109, 110, 111]);
    assert.equal(store.counters("trng").dropped, 15n);
    assert.ok(balanced(store.counters("trng")));
  });

  test("all or nothing: a take larger than the queue returns null and consumes nothing", async () => {
    await store.enqueue("trng", [bytesOf(1, 2, 3), bytesOf(4, 5, 6)]);
    assert.equal(await store.take("trng", 7, 0, { consume: true }), null);
    assert.equal(await store.take("trng", 2, 5, { consume: true }), null);
    assert.deepEqual(await allBytes(store, "trng"), [1, 2, 3, 4, 5, 6]);
    assert.equal(store.counters("trng").consumed, 0n);
  });

  test("a partly served item keeps its remainder and counts as queued until its last byte", async () => {
    await store.enqueue("trng", [bytesOf(1, 2, 3, 4), bytesOf(5, 6, 7, 8)]);
    assert.deepEqual([...(await store.take("trng", 3, 0, { consume: true }))!], [1, 2, 3]);
    assert.deepEqual(await allBytes(store, "trng"), [4, 5, 6, 7, 8]);
    assert.equal(store.counters("trng").items, 2n);
    assert.deepEqual([...(await store.take("trng", 3, 0, { consume: true }))!], [4, 5, 6]);
    assert.equal(store.counters("trng").items, 1n);
    assert.equal(store.counters("trng").consumed, 1n);
    assert.ok(balanced(store.counters("trng")));
  });

  test("offset: skipped bytes stay, only served bytes are deleted", async () => {
    await store.enqueue("trng", [bytesOf(1, 2, 3, 4), bytesOf(5, 6, 7, 8), bytesOf(9, 10)]);
    assert.deepEqual([...(await store.take("trng", 4, 2, { consume: true }))!], [3, 4, 5, 6]);
    assert.deepEqual(await allBytes(store, "trng"), [1, 2, 7, 8, 9, 10]);
    // Paging on: the same offset now returns the next bytes.
    assert.deepEqual([...(await store.take("trng", 2, 2, { consume: true }))!], [7, 8]);
    assert.deepEqual(await allBytes(store, "trng"), [1, 2, 9, 10]);
    assert.deepEqual([...(await store.take("trng", 4, 0, { consume: true }))!], [1, 2, 9, 10]);
    assert.equal(store.counters("trng").items, 0n);
    assert.ok(balanced(store.counters("trng")));
  });

  test("consume off: nothing is deleted, the same bytes can be read again", async () => {
    await store.enqueue("trng", [bytesOf(1, 2, 3, 4)]);
    assert.deepEqual([...(await store.take("trng", 2, 1, { consume: false }))!], [2, 3]);
    assert.deepEqual([...(await store.take("trng", 2, 1, { consume: false }))!], [2, 3]);
    assert.deepEqual(await allBytes(store, "trng"), [1, 2, 3, 4]);
    const usage = await store.usage("trng");
    assert.equal(usage.at(-1)!.requests, 2n);
    assert.equal(usage.at(-1)!.bytes, 4n);
  });

  test("fill completes a short take with fresh bytes; a failing fill consumes nothing", async () => {
    await store.enqueue("fortuna", [bytesOf(1, 2), bytesOf(3)]);
    const asked: number[] = [];
    const out = await store.take("fortuna", 5, 1, { consume: true, fill: async (n) => (asked.push(n), new Uint8Array(n).fill(0xee)) });
    assert.deepEqual([...out!], [2, 3, 0xee, 0xee, 0xee]);
    assert.deepEqual(asked, [3]);
    assert.deepEqual(await allBytes(store, "fortuna"), [1]);
    const failed = await store.take("fortuna", 4, 0, { consume: true, fill: async () => { throw new Error("fortuna down"); } });
    assert.equal(failed, null);
    assert.deepEqual(await allBytes(store, "fortuna"), [1]);
  });

  test("takeSome serves what is there, up to the maximum", async () => {
    await store.enqueue("trng", [bytesOf(1, 2, 3), bytesOf(4, 5)]);
    assert.deepEqual([...(await store.takeSome("trng", 4))], [1, 2, 3, 4]);
    assert.deepEqual([...(await store.takeSome("trng", 4))], [5]);
    assert.equal((await store.takeSome("trng", 4)).length, 0);
    assert.ok(balanced(store.counters("trng")));
  });

  test("shrinking drops the oldest (counted); sizes and consume mode survive a restart and beat the defaults", async () => {
    for (let i = 0; i < 8; i++) await store.enqueue("fortuna", [bytesOf(i)]);
    await store.setQueueSizes({ fortuna: 5 });
    assert.deepEqual(await allBytes(store, "fortuna"), [3, 4, 5, 6, 7]);
    assert.equal(store.counters("fortuna").dropped, 3n);
    await store.setConsumeMode(false);
    await assert.rejects(store.setQueueSizes({ trng: 0 }), RangeError);
    await store.close();
    store = await openStore(dir.path, { trng: 77, fortuna: 77 }, true);
    assert.deepEqual(store.queueSizes(), { trng: 10, fortuna: 5 });
    assert.equal(store.consumeMode(), false);
  });

  test("restart recovery: items, order, counters and ids continue where they were", async () => {
    await store.enqueue("trng", [words(0, 2), words(2, 2), words(4, 2)]);
    await store.take("trng", 8, 0, { consume: true });
    await store.take("trng", 4, 0, { consume: true });
    // The documented counters; `reserved` is given back by a clean close (reservation.ts).
    const counted = ({ reserved: _, ...c }: ReturnType<QueueStore["counters"]>) => c;
    const before = counted(store.counters("trng"));
    await store.close();
    store = await openStore(dir.path);
    assert.deepEqual(counted(store.counters("trng")), before);
    await store.enqueue("trng", [words(6, 2)]);
    const ids = (await store.items("trng")).map((i) => i.id);
    assert.deepEqual(ids, [1n, 2n, 3n]);
    assert.deepEqual(wordsOf((await store.take("trng", 16, 0, { consume: true }))!), [3, 4, 5, 6]);
  });

  test("status: the fill percentage is the ratio rounded once", async () => {
    await store.setQueueSizes({ trng: 1000 });
    await store.enqueue("trng", Array.from({ length: 298 }, (_, i) => words(i, 8)));
    const s = queueStatus(store, "trng", "chip", true);
    assert.equal(s.queueCurrent, 298);
    assert.equal(s.queuePercentage, 29.8);
    assert.equal(JSON.stringify(s.queuePercentage), "29.8");
  });

  test("concurrency: many parallel takers never receive the same bytes", async () => {
    await store.setQueueSizes({ fortuna: 2000 });
    const ITEMS = 1000;
    const WORDS_PER_ITEM = 8;
    for (let i = 0; i < ITEMS; i += 100) {
      await store.enqueue("fortuna", Array.from({ length: 100 }, (_, j) => words((i + j) * WORDS_PER_ITEM, WORDS_PER_ITEM)));
    }
    const served: number[] = [];
    const takers = Array.from({ length: 64 }, async (_, t) => {
      for (let k = 0; k < 20; k++) {
        const n = 4 * (1 + ((t * 7 + k * 13) % 24));
        const out = k % 2 === 0 ? await store.take("fortuna", n, 0, { consume: true }) : await store.takeSome("fortuna", n);
        if (out) served.push(...wordsOf(out));
      }
    });
    await Promise.all(takers);
    const left = (await store.items("fortuna")).flatMap((i) => wordsOf(i.data));
    const all = [...served, ...left].sort((a, b) => a - b);
    assert.equal(new Set(served).size, served.length, "a word was served twice");
    assert.deepEqual(all, Array.from({ length: ITEMS * WORDS_PER_ITEM }, (_, i) => i));
    assert.ok(balanced(store.counters("fortuna")));
  });
});

describe("queue store beyond the in-memory window", () => {
  const MIB = 1024 * 1024;
  const WORDS = MIB / 4;
  const add = (to: number[], ws: number[]) => {
    for (const w of ws) to.push(w);
  };

  test("a queue larger than the window is served in order, with enqueues and offsets in between, counters balanced", async () => {
    await store.setQueueSizes({ fortuna: 100 });
    const total = Math.ceil(WINDOW_BYTES / MIB) + 8;
    let next = 0;
    for (let i = 0; i < total; i++) await store.enqueue("fortuna", [words(next++ * WORDS, WORDS)]);
    const served: number[] = [];
    // An offset take past the window's end leaves the skipped words in place.
    const skipped = wordsOf((await store.take("fortuna", 8, WINDOW_BYTES + MIB / 2, { consume: true }))!);
    assert.deepEqual(skipped, [(WINDOW_BYTES + MIB / 2) / 4, (WINDOW_BYTES + MIB / 2) / 4 + 1]);
    add(served, skipped);
    const left = () => next * MIB - served.length * 4;
    for (let k = 0; left() > MIB; k++) {
      add(served, wordsOf((await store.take("fortuna", Math.min(MIB + MIB / 2, left() - MIB), 0, { consume: true }))!));
      if (k < 6) await store.enqueue("fortuna", [words(next++ * WORDS, WORDS)]);
    }
    assert.equal(await store.take("fortuna", left() + 4, 0, { consume: true }), null);
    add(served, wordsOf(await store.takeSome("fortuna", 2 * MIB)));
    assert.equal(store.counters("fortuna").items, 0n);
    assert.deepEqual(served.sort((a, b) => a - b), Array.from({ length: next * WORDS }, (_, i) => i));
    assert.ok(balanced(store.counters("fortuna")));
  });

  test("concurrent takers on a queue larger than the window never receive the same bytes", async () => {
    await store.setQueueSizes({ fortuna: 100 });
    const total = Math.ceil(WINDOW_BYTES / MIB) + 4;
    for (let i = 0; i < total; i++) await store.enqueue("fortuna", [words(i * WORDS, WORDS)]);
    const served: number[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, t) => {
        for (let k = 0; k < 8; k++) {
          const out = await store.take("fortuna", 4 * (1 + ((t * 7919 + k * 104729) % (WORDS / 2))), 0, { consume: true });
          if (out) add(served, wordsOf(out));
        }
      }),
    );
    const left = (await store.items("fortuna")).flatMap((i) => wordsOf(i.data));
    assert.equal(new Set(served).size, served.length, "a word was served twice");
    add(served, left);
    assert.deepEqual(served.sort((a, b) => a - b), Array.from({ length: total * WORDS }, (_, i) => i));
    assert.ok(balanced(store.counters("fortuna")));
  });
});
