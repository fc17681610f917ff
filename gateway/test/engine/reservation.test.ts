// When a consuming take waits for the disk (reservation.ts). The disk is
// modelled as one fsync per take: synced batches are held back until the take
// after the one that queued them has been tried, so a take that needs its own
// raise on disk shows up as a take that cannot answer while the batch is held.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RESERVE_AHEAD_BYTES } from "../../src/engine/reservation.js";
import { Rocks, type BatchOp } from "../../src/engine/rocks.js";
import { balanced, openStore, tempDir, words, wordsOf } from "./helpers.js";

const tick = () => new Promise((r) => setImmediate(r));

test("a steady stream of consuming takes waits for an fsync only on the first one", async () => {
  const dir = tempDir("reservation");
  const batch = Rocks.prototype.batch;
  const held: (() => void)[] = [];
  let syncedBatches = 0;
  const store = await openStore(dir.path, { trng: 10, fortuna: 8000 });
  try {
    const ITEM_WORDS = 256; // 1 KiB items, like Fortuna's
    await store.enqueue("fortuna", Array.from({ length: 4000 }, (_, i) => words(ITEM_WORDS * i, ITEM_WORDS)));
    Rocks.prototype.batch = function (this: Rocks, ops: BatchOp[], sync: boolean) {
      if (!sync) return batch.call(this, ops, sync);
      syncedBatches++;
      return new Promise<void>((resolve, reject) => held.push(() => batch.call(this, ops, sync).then(resolve, reject)));
    };
    const TAKE = 100_000;
    const takes = Math.ceil((3 * RESERVE_AHEAD_BYTES.fortuna) / TAKE);
    const waited: number[] = [];
    const served: number[] = [];
    for (let k = 0; k < takes; k++) {
      let answered = false;
      const p = store.take("fortuna", TAKE, 0, { consume: true }).then((out) => {
        answered = true;
        return out;
      });
      for (let i = 0; i < 5 && !answered; i++) await tick();
      if (!answered) waited.push(k);
      // The disk finishes what it was given.
      while (held.length > 0) held.shift()!();
      served.push(...wordsOf((await p)!));
      await tick();
    }
    assert.deepEqual(waited, [0], "only the first take had to wait for its reservation");
    assert.ok(syncedBatches >= 3, `the reservation was raised as the takes went (${syncedBatches} synced batches)`);
    assert.equal(new Set(served).size, served.length, "a word was served twice");
    assert.deepEqual(served.slice(0, 5), [0, 1, 2, 3, 4]);
    assert.ok(balanced(store.counters("fortuna")));
  } finally {
    Rocks.prototype.batch = batch;
    while (held.length > 0) held.shift()!();
    await store.close();
    dir.remove();
  }
});
