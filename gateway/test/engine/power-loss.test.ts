// A power loss keeps a prefix of what was written: everything up to the last
// fsync, perhaps more. Every such prefix of the store's writes, replayed into a
// fresh database and opened, must hold no byte that a consume-mode take had
// already returned, and its counters must still add up.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { QueueStore } from "../../src/engine/queue-store.js";
import { Rocks, type BatchOp } from "../../src/engine/rocks.js";
import { balanced, consumingTakes, failNextDeleteWrite, openStore, tempDir, TEST_KEY, words, wordsOf } from "./helpers.js";

interface Written {
  ops: BatchOp[];
  sync: boolean;
}

const copy = (op: BatchOp): BatchOp => (op.type === "put" ? { type: "put", key: Buffer.from(op.key), value: Buffer.from(op.value) } : { type: "del", key: Buffer.from(op.key) });

/** Runs `fn` with every batch written through Rocks recorded in `log`, in order. */
async function recording(log: Written[], fn: () => Promise<void>): Promise<void> {
  const batch = Rocks.prototype.batch;
  Rocks.prototype.batch = function (this: Rocks, ops: BatchOp[], sync: boolean) {
    if (ops.length > 0) log.push({ ops: ops.map(copy), sync });
    return batch.call(this, ops, sync);
  };
  try {
    await fn();
  } finally {
    Rocks.prototype.batch = batch;
  }
}

test("after a power loss at any point, nothing a take returned is served again", { timeout: 120_000 }, async () => {
  const dir = tempDir("power");
  const WORDS = 256; // 1 KiB items, like Fortuna's
  let next = 0;
  const served: number[][] = [];
  /** Batches written when take k had returned. */
  const writtenBy: number[] = [];
  const log: Written[] = [];
  try {
    await recording(log, async () => {
      const store = await openStore(dir.path, { trng: 10, fortuna: 8000 });
      // One message at a time, each written before the next: a batch each.
      const add = async (items: number) => {
        const message = words(WORDS * next, WORDS * items);
        next += items;
        await (await store.enqueue("fortuna", message, WORDS * 4)).written;
      };
      for (let i = 0; i < 60; i++) await add(64);
      for (let k = 0; k < 40; k++) {
        const out = await store.take("fortuna", 4 * (5000 + ((k * 7919) % 30000)), k % 4 === 3 ? 4096 : 0, { consume: true });
        served.push(wordsOf(out!));
        writtenBy.push(log.length);
        if (k % 5 === 4) await add(100);
      }
      // Not closed: a clean close would give the reservation back.
      await store.counters("fortuna");
    });
    assert.ok(log.filter((w) => !w.sync).length > log.length / 2, "most takes were not synced one by one");
    // A crash just after take k returned keeps a prefix of at least from[k] and at most
    // writtenBy[k] batches (everything up to the last fsync survives).
    const from = writtenBy.map((w) => {
      let i = w - 1;
      while (!log[i].sync) i--;
      return i + 1;
    });
    const step = Math.max(1, Math.ceil((log.length - from[0]) / 12));
    const between = Array.from({ length: 12 }, (_, i) => from[0] + i * step);
    // Each take's window ends (everything written as it returned) are crash points too.
    const ends = writtenBy.filter((_, k) => k % 5 === 0);
    const cuts = [...new Set([...from, ...ends, ...between])].filter((c) => c <= log.length).sort((a, b) => a - b);
    const base = join(dir.path, "replay");
    let applied = 0;
    let checked = 0;
    for (const cut of cuts) {
      // The latest take whose crash window holds this cut: the most words that must stay gone.
      let k = -1;
      for (let j = 0; j < served.length; j++) if (from[j] <= cut && cut <= writtenBy[j]) k = j;
      if (k < 0) continue;
      const raw = await Rocks.open(base);
      for (; applied < cut; applied++) await raw.batch(log[applied].ops, false);
      await raw.close();
      const snapshot = join(dir.path, `at-${cut}`);
      cpSync(base, snapshot, { recursive: true });
      const gone = new Set(served.slice(0, k + 1).flat());
      const store = await QueueStore.open(snapshot, { sizes: { trng: 10, fortuna: 8000 }, consume: true }, { key: TEST_KEY });
      try {
        const left = (await store.items("fortuna")).flatMap((i) => wordsOf(i.data));
        assert.ok(left.every((w) => !gone.has(w)), `${cut} of ${log.length} batches kept, after take ${k}: a served word is back`);
        assert.ok(balanced(store.counters("fortuna")), `${cut} batches kept: counters`);
        checked++;
      } finally {
        await store.close();
        rmSync(snapshot, { recursive: true, force: true });
      }
    }
    assert.ok(checked >= 10, `${checked} crash points checked`);
  } finally {
    dir.remove();
  }
});

test("a failed write behind takes that already answered: nothing they returned is served again", async () => {
  const dir = tempDir("failed-write");
  const WORDS = 256;
  const store = await openStore(dir.path, { trng: 10, fortuna: 1000 });
  const batch = Rocks.prototype.batch;
  try {
    await (await store.enqueue("fortuna", words(0, 400 * WORDS), WORDS * 4)).written;
    const { served, take } = consumingTakes(store);
    await take(8000); // raises the reservation (synced)
    await take(8000); // covered: answers before its deletes are written
    const failure = failNextDeleteWrite();
    for (let i = 0; i < 5; i++) await take(12000);
    // Whatever failed, the store recovers from the database on the next take and serves the rest.
    while ((await take(4096).catch(() => null)) !== null);
    failure.restore();
    assert.equal(failure.failed(), 1, "the write failure was injected");
    assert.equal(new Set(served).size, served.length, "a word was served twice");
    const left = (await store.items("fortuna")).flatMap((i) => wordsOf(i.data));
    assert.ok(left.every((w) => !served.includes(w)), "a served word is still queued");
    assert.ok(balanced(store.counters("fortuna")));
  } finally {
    Rocks.prototype.batch = batch;
    await store.close();
    dir.remove();
  }
});
