// When a consuming take touches the disk (reservation.ts, and the deferred
// writes of group-commit.ts). In the first test the disk is modelled as one
// fsync per take: synced batches are held back until the take after the one
// that queued them has been tried, so a take that needs its own raise on disk
// shows up as a take that cannot answer while the batch is held.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { QueueStore } from "../../src/engine/queue-store.js";
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
    await (await store.enqueue("fortuna", words(0, 4000 * ITEM_WORDS), ITEM_WORDS * 4)).written;
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
      // A take that waits for the held fsync cannot answer however long we
      // wait; one that does not may still need real disk reads and writes,
      // which a loaded machine can make take many event-loop turns (so can
      // a raise released earlier: its batch and the served mark's record,
      // served-mark.ts, still being written). Only a take that waits while
      // a batch is held waits for the modelled fsync.
      for (let i = 0; i < 2000 && !answered; i++) await tick();
      if (!answered && held.length > 0) waited.push(k);
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

/** Runs `fn` with the batches written through Rocks counted in `log` (ops per batch). */
async function counting(log: BatchOp[][], fn: () => Promise<void>): Promise<void> {
  const batch = Rocks.prototype.batch;
  Rocks.prototype.batch = function (this: Rocks, ops: BatchOp[], sync: boolean) {
    if (ops.length > 0) log.push(ops);
    return batch.call(this, ops, sync);
  };
  try {
    await fn();
  } finally {
    Rocks.prototype.batch = batch;
  }
}

const dels = (ops: BatchOp[]) => ops.filter((o) => o.type === "del").length;

test("covered takes in separate events share one batch: their deletes wait for the next write", async () => {
  const dir = tempDir("defer");
  // Deferred writes wait this long at most: longer than the test, so only company ends the wait.
  const store = await QueueStore.open(join(dir.path, "db"), { sizes: { trng: 10, fortuna: 4000 }, consume: true }, { deferMs: 600_000 });
  try {
    await (await store.enqueue("fortuna", words(0, 1000 * 256), 1024)).written;
    await store.take("fortuna", 1024, 0, { consume: true }); // raises the reservation: written at once
    const log: BatchOp[][] = [];
    const served: number[] = [];
    await counting(log, async () => {
      for (let k = 0; k < 10; k++) {
        served.push(...wordsOf((await store.take("fortuna", 2048, 0, { consume: true }))!));
        await tick();
      }
      assert.equal(log.length, 0, "the covered takes wrote nothing yet");
      await store.enqueue("fortuna", words(1_000_000, 256), 1024);
    });
    assert.equal(log.length, 1, "one batch for the ten takes and the enqueue");
    assert.ok(dels(log[0]) >= 10, `the takes' deletes went with the enqueue (${dels(log[0])} deletes)`);
    assert.equal(served[0], 256, "served in order after the first take");
    const left = (await store.items("fortuna")).flatMap((i) => wordsOf(i.data));
    assert.ok(left.every((w) => !served.includes(w)), "the deleted words are gone from the database");
    assert.ok(balanced(store.counters("fortuna")));
  } finally {
    await store.close();
    dir.remove();
  }
});

test("a covered take's deletes are written on their own when no other write comes", async () => {
  const dir = tempDir("defer-alone");
  const store = await QueueStore.open(join(dir.path, "db"), { sizes: { trng: 10, fortuna: 4000 }, consume: true }, { deferMs: 1 });
  try {
    await (await store.enqueue("fortuna", words(0, 100 * 256), 1024)).written;
    await store.take("fortuna", 1024, 0, { consume: true });
    const log: BatchOp[][] = [];
    await counting(log, async () => {
      await store.take("fortuna", 1024, 0, { consume: true });
      for (let i = 0; i < 500 && log.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    });
    assert.equal(log.length, 1, "the deferred deletes were written");
    assert.equal(dels(log[0]), 1);
  } finally {
    await store.close();
    dir.remove();
  }
});
