// The queue key (queue-cipher.ts, queue-key.ts, store-open.ts): what a restart
// with the same key keeps and one with another key drops, that no keystream
// byte is used twice under one key, that values stored again after a rebuild
// read back right, and how QUEUE_KEY_FILE is read.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, EnvReader } from "../../../runtime/src/index.js";
import { readGatewayEngineConfig } from "../../src/engine/engine.js";
import { QueueStore } from "../../src/engine/queue-store.js";
import { Rocks } from "../../src/engine/rocks.js";
import type { SourceName } from "../../src/engine/types.js";
import { balanced, consumingTakes, failNextDeleteWrite, tempDir, TEST_KEY, words, wordsOf } from "./helpers.js";

describe("the queue key", () => {
  test("the store: a restart with the same key keeps everything, one with another key drops the items alone (counted)", async () => {
    const dir = tempDir("at-rest-store");
    const path = join(dir.path, "db");
    const sizes = { trng: 10, fortuna: 100 };
    try {
      let store = await QueueStore.open(path, { sizes, consume: true }, { key: TEST_KEY });
      await store.enqueue("fortuna", words(0, 40 * 64), 256);
      // 20-byte samples: what is written after them starts inside a counter block.
      await store.enqueue("trng", words(1_000_000, 6 * 5), 20);
      const served = wordsOf((await store.take("fortuna", 1000, 96, { consume: true }))!);
      await store.setQueueSizes({ trng: 8 });
      const counters = { trng: store.counters("trng"), fortuna: store.counters("fortuna") };
      const items = await store.items("fortuna");
      await store.close();

      store = await QueueStore.open(path, { sizes, consume: true }, { key: TEST_KEY });
      assert.deepEqual(store.atRest, { dropped: { trng: 0n, fortuna: 0n }, unencrypted: false, keyKept: true });
      assert.deepEqual(await store.items("fortuna"), items);
      // What was served and what is left read back: every word enqueued, once.
      const left = (await store.items("fortuna")).flatMap((i) => wordsOf(i.data));
      assert.deepEqual([...served, ...left].sort((a, b) => a - b), Array.from({ length: 40 * 64 }, (_, w) => w));
      await store.close();

      // No key: one drawn in memory. The old items can't be read: dropped, counted, and the rest stays.
      store = await QueueStore.open(path, { sizes, consume: false });
      assert.deepEqual(store.atRest, { dropped: { trng: counters.trng.items, fortuna: counters.fortuna.items }, unencrypted: false, keyKept: false });
      assert.deepEqual(store.atRest.dropped, { trng: 6n, fortuna: 37n });
      for (const s of ["trng", "fortuna"] as SourceName[]) {
        const c = store.counters(s);
        assert.equal(c.items, 0n);
        assert.equal(c.dropped, counters[s].dropped + counters[s].items);
        assert.equal(c.consumed, counters[s].consumed);
        assert.equal(c.total_generated, counters[s].total_generated);
        assert.equal(c.next_id, counters[s].next_id, "ids go on");
        assert.ok(balanced(c));
        assert.deepEqual(await store.items(s), []);
      }
      assert.deepEqual(store.queueSizes(), { trng: 8, fortuna: 100 }, "settings stay");
      assert.equal(store.consumeMode(), true);
      await store.enqueue("fortuna", words(5_000_000, 64), 256);
      assert.deepEqual(wordsOf((await store.take("fortuna", 256, 0, { consume: true }))!), wordsOf(words(5_000_000, 64)));
      await store.close();
    } finally {
      dir.remove();
    }
  });

  test("no keystream byte is used twice under one key: rewrites of partly served segments and restarts included", async () => {
    const dir = tempDir("queue-key-stream");
    const batch = Rocks.prototype.batch;
    // Each stored value: its stream's salt, and the keystream bytes it used (queue-cipher.ts).
    const used: { salt: string; from: number; to: number }[] = [];
    Rocks.prototype.batch = function (this: Rocks, ops, sync) {
      for (const o of ops) {
        if (o.type !== "put" || !o.key.toString("latin1").startsWith("q/")) continue;
        const from = Number(o.value.readBigUInt64BE(8));
        used.push({ salt: o.value.toString("hex", 0, 8), from, to: from + o.value.length - 16 });
      }
      return batch.call(this, ops, sync);
    };
    try {
      for (let run = 0; run < 2; run++) {
        const store = await QueueStore.open(join(dir.path, "db"), { sizes: { trng: 50, fortuna: 200 }, consume: true }, { key: TEST_KEY });
        for (let k = 0; k < 20; k++) {
          await store.enqueue("fortuna", words((run * 1000 + k * 8) * 64, 8 * 64), 256);
          await store.enqueue("trng", words((run * 1000 + k * 3) * 8, 3 * 8), 32);
          // Partial items, gaps inside one item, and takes past an offset: remnants are written again.
          await store.take("fortuna", 100 + k * 37, k % 3 === 0 ? 50 : 0, { consume: true });
          await store.take("trng", 8 + (k % 5) * 4, k % 2 === 0 ? 4 : 0, { consume: true });
        }
        await store.setQueueSizes({ fortuna: 40 + run });
        await store.close();
      }
    } finally {
      Rocks.prototype.batch = batch;
      dir.remove();
    }
    assert.ok(used.length > 100, `${used.length} values written`);
    assert.equal(new Set(used.map((u) => u.salt)).size, 2, "one stream per store opened");
    used.sort((a, b) => (a.salt === b.salt ? a.from - b.from : a.salt < b.salt ? -1 : 1));
    for (let i = 1; i < used.length; i++) {
      if (used[i].salt === used[i - 1].salt) assert.ok(used[i - 1].to <= used[i].from, "two values share keystream bytes");
    }
  });

  test("a rebuild after a failed write stores the rest of a segment past the reservation again, and it reads back right", async () => {
    const dir = tempDir("at-rest-rebuild");
    const store = await QueueStore.open(join(dir.path, "db"), { sizes: { trng: 10, fortuna: 4000 }, consume: true }, { key: TEST_KEY });
    const batch = Rocks.prototype.batch;
    try {
      const ITEMS = 1600;
      // Segments of 16 items of 1 KiB: the reservation (1 MiB ahead) ends inside one.
      for (let i = 0; i < ITEMS; i += 16) await (await store.enqueue("fortuna", words(i * 256, 16 * 256), 1024)).written;
      const { served, take } = consumingTakes(store);
      await take(8000);
      const failure = failNextDeleteWrite();
      for (let i = 0; i < 4; i++) await take(8000);
      // The next take rebuilds the state from the database: what the reservation covers is dropped.
      while ((await take(100_000).catch(() => null)) !== null);
      failure.restore();
      assert.equal(failure.failed(), 1);
      const c = store.counters("fortuna");
      assert.ok(c.dropped > 0n, "the reserved rest was dropped");
      assert.ok(balanced(c));
      const left = (await store.items("fortuna")).flatMap((i) => wordsOf(i.data));
      const all = [...served, ...left];
      assert.equal(new Set(all).size, all.length, "a word was served twice, or is served and queued");
      assert.ok(all.every((w) => w < ITEMS * 256), "a word that was never enqueued (a bad decryption)");
      // What is neither served nor queued is the run the rebuild dropped, ending where the reservation
      // did: inside a segment, whose rest was stored again (and read back above).
      const have = new Set(all);
      const missing = Array.from({ length: ITEMS * 256 }, (_, w) => w).filter((w) => !have.has(w));
      const end = missing.at(-1)! + 1;
      assert.equal(missing.length, end - missing[0], "the dropped words are one run");
      assert.equal(end % 256, 0, "the run ends with an item");
      assert.notEqual(end % (16 * 256), 0, "the run ends inside a segment");
    } finally {
      Rocks.prototype.batch = batch;
      await store.close();
      dir.remove();
    }
  });

  test("QUEUE_KEY_FILE: 32 raw bytes or 64 hex digits; anything else is refused by name, without showing it", () => {
    const dir = tempDir("at-rest-config");
    try {
      const dbPath = join(dir.path, "db");
      const read = (contents: string | Buffer, at = join(dir.path, "key")) => {
        writeFileSync(at, contents);
        return readGatewayEngineConfig(new EnvReader({ DB_PATH: dbPath, QUEUE_KEY_FILE: at })).queueKey;
      };
      assert.equal(readGatewayEngineConfig(new EnvReader({ DB_PATH: dbPath })).queueKey, undefined);
      assert.deepEqual(read(TEST_KEY), TEST_KEY);
      assert.deepEqual(read(TEST_KEY.toString("hex").toUpperCase() + "\n"), TEST_KEY);
      const refused = (what: () => unknown, why: RegExp) =>
        assert.throws(what, (e: Error) => e instanceof ConfigError && e.variable === "QUEUE_KEY_FILE" && why.test(e.message) && !e.message.includes("not for use"));
      refused(() => read(TEST_KEY.subarray(1)), /32 random bytes/);
      refused(() => read(TEST_KEY.toString("hex").slice(2)), /64 hex digits/);
      refused(() => read(Buffer.alloc(32)), /repeated/);
      refused(() => readGatewayEngineConfig(new EnvReader({ QUEUE_KEY_FILE: join(dir.path, "missing") })), /cannot read/);
      // A copy of DB_PATH must not carry the key; a file beside it is fine.
      mkdirSync(dbPath);
      refused(() => read(TEST_KEY, join(dbPath, "queue.key")), /inside DB_PATH/);
      assert.deepEqual(read(TEST_KEY, join(dir.path, "db.key")), TEST_KEY);
    } finally {
      dir.remove();
    }
  });
});
