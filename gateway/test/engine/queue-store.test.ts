import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { WINDOW_BYTES, type QueueStore } from "../../src/engine/queue-store.js";
import { queueStatus } from "../../src/engine/stats.js";
import { allBytes, balanced, bytesOf, openStore, stored, tempDir, words, wordsOf } from "./helpers.js";

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
    await store.enqueue("trng", bytesOf(1, 2, 3, 4), 2);
    await store.enqueue("fortuna", bytesOf(9, 9, 9), 3);
    await store.enqueue("trng", bytesOf(5, 6), 2);
    assert.deepEqual([...(await store.take("trng", 6, 0, { consume: true }))!], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...(await store.take("fortuna", 3, 0, { consume: true }))!], [9, 9, 9]);
    assert.equal(store.counters("trng").items, 0n);
    assert.equal(store.counters("trng").consumed, 3n);
  });

  test("TRNG capacity: the oldest items are dropped and counted, in the same write", async () => {
    for (let i = 0; i < 13; i++) assert.deepEqual(await stored(store.enqueue("trng", bytesOf(i), 1)), { taken: 1, dropped: i < 10 ? 0 : 1 });
    const c = store.counters("trng");
    assert.equal(c.items, 10n);
    assert.equal(c.dropped, 3n);
    assert.equal(c.total_generated, 13n);
    assert.equal(c.polling, 13n);
    assert.deepEqual(await allBytes(store, "trng"), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // A message larger than the whole queue keeps only its newest items.
    const message = bytesOf(...Array.from({ length: 12 }, (_, i) => 100 + i));
    assert.deepEqual(await stored(store.enqueue("trng", message, 1)), { taken: 12, dropped: 12 });
    assert.deepEqual(await allBytes(store, "trng"), [102, 103, 104, 105, 106, 107, 108, 109, 110, 111]);
    assert.deepEqual([...message.subarray(0, 2)], [0, 0], "the items dropped on arrival are zeroed");
    assert.equal(store.counters("trng").dropped, 15n);
    assert.equal(store.counters("trng").polling, 14n);
    assert.ok(balanced(store.counters("trng")));
  });

  test("Fortuna capacity: a message is taken as far as there is room, nothing queued is pushed out", async () => {
    await store.enqueue("fortuna", words(0, 8 * 2), 8);
    const message = words(100, 5 * 2);
    assert.deepEqual(await stored(store.enqueue("fortuna", message, 8)), { taken: 2 * 8, dropped: 0 });
    assert.deepEqual(await stored(store.enqueue("fortuna", message.subarray(16), 8, 0)), { taken: 0, dropped: 0 }, "a full queue takes nothing");
    assert.deepEqual(wordsOf((await store.take("fortuna", 3 * 8, 0, { consume: true }))!), [0, 1, 2, 3, 4, 5]);
    // The rest, offered again once there is room: three more items, the last one short.
    assert.deepEqual(await stored(store.enqueue("fortuna", message.subarray(16), 8, 0)), { taken: 3 * 8, dropped: 0 });
    assert.deepEqual(await stored(store.enqueue("fortuna", bytesOf(1, 2, 3, 4, 5, 6, 7, 8, 9), 8)), { taken: 0, dropped: 0 });
    const c = store.counters("fortuna");
    assert.deepEqual([c.items, c.dropped, c.total_generated, c.polling], [10n, 0n, 13n, 3n]);
    const all = (await store.items("fortuna")).map((i) => wordsOf(i.data));
    assert.deepEqual(all.slice(-5), [[100, 101], [102, 103], [104, 105], [106, 107], [108, 109]]);
    assert.ok(balanced(c));
  });

  test("a message that ends in a short item stores it as an item of its own", async () => {
    await store.setQueueSizes({ fortuna: 100 });
    assert.deepEqual(await stored(store.enqueue("fortuna", bytesOf(1, 2, 3, 4, 5, 6, 7), 3)), { taken: 7, dropped: 0 });
    assert.deepEqual((await store.items("fortuna")).map((i) => [i.id, [...i.data]]), [[0n, [1, 2, 3]], [1n, [4, 5, 6]], [2n, [7]]]);
    assert.deepEqual([...(await store.take("fortuna", 5, 0, { consume: true }))!], [1, 2, 3, 4, 5]);
    assert.deepEqual([...(await store.take("fortuna", 2, 0, { consume: true }))!], [6, 7]);
    assert.equal(store.counters("fortuna").consumed, 3n);
  });

  test("all or nothing: a take larger than the queue returns null and consumes nothing", async () => {
    await store.enqueue("trng", bytesOf(1, 2, 3, 4, 5, 6), 3);
    assert.equal(await store.take("trng", 7, 0, { consume: true }), null);
    assert.equal(await store.take("trng", 2, 5, { consume: true }), null);
    assert.deepEqual(await allBytes(store, "trng"), [1, 2, 3, 4, 5, 6]);
    assert.equal(store.counters("trng").consumed, 0n);
  });

  test("a partly served item keeps its remainder and counts as queued until its last byte", async () => {
    await store.enqueue("trng", bytesOf(1, 2, 3, 4, 5, 6, 7, 8), 4);
    assert.deepEqual([...(await store.take("trng", 3, 0, { consume: true }))!], [1, 2, 3]);
    assert.deepEqual(await allBytes(store, "trng"), [4, 5, 6, 7, 8]);
    assert.equal(store.counters("trng").items, 2n);
    assert.deepEqual([...(await store.take("trng", 3, 0, { consume: true }))!], [4, 5, 6]);
    assert.equal(store.counters("trng").items, 1n);
    assert.equal(store.counters("trng").consumed, 1n);
    assert.ok(balanced(store.counters("trng")));
  });

  test("offset: skipped bytes stay, only served bytes are deleted", async () => {
    await store.enqueue("trng", bytesOf(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 4);
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
    await store.enqueue("trng", bytesOf(1, 2, 3, 4), 4);
    assert.deepEqual([...(await store.take("trng", 2, 1, { consume: false }))!], [2, 3]);
    assert.deepEqual([...(await store.take("trng", 2, 1, { consume: false }))!], [2, 3]);
    assert.deepEqual(await allBytes(store, "trng"), [1, 2, 3, 4]);
    assert.equal(store.counters("trng").consumed, 0n);
  });

  test("fill completes a short take with fresh bytes, its calls counted with the take; a failing fill consumes nothing", async () => {
    await store.enqueue("fortuna", bytesOf(1, 2, 3), 2);
    const asked: number[] = [];
    const out = await store.take("fortuna", 5, 1, { consume: true, fill: async (n) => (asked.push(n), { data: new Uint8Array(n).fill(0xee), calls: 2 }) });
    assert.deepEqual([...out!], [2, 3, 0xee, 0xee, 0xee]);
    assert.deepEqual(asked, [3]);
    assert.deepEqual(await allBytes(store, "fortuna"), [1]);
    assert.equal(store.counters("fortuna").polling, 3n, "the enqueue's message and the fill's two calls");
    const failed = await store.take("fortuna", 4, 0, { consume: true, fill: async () => { throw new Error("fortuna down"); } });
    assert.equal(failed, null);
    assert.deepEqual(await allBytes(store, "fortuna"), [1]);
    // The polls reached the disk with the take's own batch: a reopened store has them.
    await store.close();
    store = await openStore(dir.path);
    assert.equal(store.counters("fortuna").polling, 3n);
  });

  test("takeSome answers an empty queue from its fill, counting the calls", async () => {
    const some = await store.takeSome("fortuna", 6, async (n) => ({ data: new Uint8Array(n - 2).fill(7), calls: 1 }));
    assert.deepEqual([...some], [7, 7, 7, 7]);
    assert.equal((await store.takeSome("fortuna", 6, async () => { throw new Error("fortuna down"); })).length, 0);
    assert.equal(store.counters("fortuna").polling, 1n);
  });

  test("takeSome serves what is there, up to the maximum", async () => {
    await store.enqueue("trng", bytesOf(1, 2, 3, 4, 5), 3);
    assert.deepEqual([...(await store.takeSome("trng", 4))], [1, 2, 3, 4]);
    assert.deepEqual([...(await store.takeSome("trng", 4))], [5]);
    assert.equal((await store.takeSome("trng", 4)).length, 0);
    assert.ok(balanced(store.counters("trng")));
  });

  test("shrinking drops the oldest (counted); sizes and consume mode survive a restart and beat the defaults", async () => {
    for (let i = 0; i < 8; i++) await store.enqueue("fortuna", bytesOf(i), 1);
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
    await store.enqueue("trng", words(0, 6), 8);
    await store.take("trng", 8, 0, { consume: true });
    await store.take("trng", 4, 0, { consume: true });
    // The documented counters; `reserved` is given back by a clean close (reservation.ts).
    const counted = ({ reserved: _, ...c }: ReturnType<QueueStore["counters"]>) => c;
    const before = counted(store.counters("trng"));
    await store.close();
    store = await openStore(dir.path);
    assert.deepEqual(counted(store.counters("trng")), before);
    await store.enqueue("trng", words(6, 2), 8);
    const ids = (await store.items("trng")).map((i) => i.id);
    assert.deepEqual(ids, [1n, 2n, 3n]);
    assert.deepEqual(wordsOf((await store.take("trng", 16, 0, { consume: true }))!), [3, 4, 5, 6]);
  });

  test("status: the fill percentage is the ratio rounded once", async () => {
    await store.setQueueSizes({ trng: 1000 });
    await store.enqueue("trng", words(0, 298 * 8), 32);
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
      await store.enqueue("fortuna", words(i * WORDS_PER_ITEM, 100 * WORDS_PER_ITEM), WORDS_PER_ITEM * 4);
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
    for (let i = 0; i < total; i++) await store.enqueue("fortuna", words(next++ * WORDS, WORDS), MIB);
    const served: number[] = [];
    // An offset take past the window's end leaves the skipped words in place.
    const skipped = wordsOf((await store.take("fortuna", 8, WINDOW_BYTES + MIB / 2, { consume: true }))!);
    assert.deepEqual(skipped, [(WINDOW_BYTES + MIB / 2) / 4, (WINDOW_BYTES + MIB / 2) / 4 + 1]);
    add(served, skipped);
    const left = () => next * MIB - served.length * 4;
    for (let k = 0; left() > MIB; k++) {
      add(served, wordsOf((await store.take("fortuna", Math.min(MIB + MIB / 2, left() - MIB), 0, { consume: true }))!));
      if (k < 6) await store.enqueue("fortuna", words(next++ * WORDS, WORDS), MIB);
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
    for (let i = 0; i < total; i++) await store.enqueue("fortuna", words(i * WORDS, WORDS), MIB);
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
