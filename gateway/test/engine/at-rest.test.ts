// Queued randomness at rest (gateway/README.md, "At rest"; queue-cipher.ts):
// no file under DB_PATH (WAL, SST, logs, manifests) holds any 16-byte window
// of what the gateway served or still queues - after a graceful close, after
// a restart, after kill -9 - for both sources. Without QUEUE_KEY_FILE a
// restart drops what was queued (counted as dropped; counters and settings
// stay); with it, the queues are kept and each byte is still served once.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { EnvReader, silentLogger } from "../../../runtime/src/index.js";
import { openGatewayEngine, readGatewayEngineConfig } from "../../src/engine/engine.js";
import { counterKey, segmentKey, u64 } from "../../src/engine/keys.js";
import { QueueStore } from "../../src/engine/queue-store.js";
import { Rocks } from "../../src/engine/rocks.js";
import type { GatewayEngine, QueueStatus, SourceName } from "../../src/engine/types.js";
import { Windows, WINDOW, windowsOf } from "./disk-scan.js";
import { FakeController, FakeFortuna, testConfig, until } from "./fakes.js";
import { balanced, tempDir, TEST_KEY, words } from "./helpers.js";

const balancedStatus = (q: QueueStatus) => q.totalGenerated === BigInt(q.queueCurrent) + q.consumedCount + q.queueDropped;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function upstreams() {
  const controller = await new FakeController().start();
  cleanups.push(() => controller.server.close());
  const fortuna = new FakeFortuna();
  fortuna.randomChunks = true;
  await fortuna.start();
  cleanups.push(() => fortuna.server.close());
  return { controller, fortuna };
}

/** Serves from both queues with consume on: whole items, partial items, and takes past an offset. */
async function serve(engine: GatewayEngine): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let k = 0; k < 24; k++) {
    const fortuna = await engine.take("fortuna", 5000 + k * 97, k % 3 === 0 ? 700 : 0);
    assert.ok(fortuna, "the Fortuna queue serves");
    out.push(fortuna);
    const trng = await engine.take("trng", 48 + (k % 4) * 8, k % 5 === 0 ? 16 : 0);
    if (trng) out.push(trng);
  }
  return out;
}

describe("queued randomness at rest", () => {
  test("served and queued bytes are in no file under DB_PATH after a close and after a restart, which drops the old queues", { timeout: 60_000 }, async () => {
    const dir = tempDir("at-rest");
    cleanups.push(() => dir.remove());
    const { controller, fortuna } = await upstreams();
    const cfg = testConfig(join(dir.path, "db"), controller.addr, [fortuna.addr], { trngQueueSize: 200, fortunaQueueSize: 200, fortunaItemBytes: 1024 });
    let engine = await openGatewayEngine(cfg, silentLogger);
    cleanups.push(() => engine.close());
    const full = async () => (await engine.status()).fortuna.queueCurrent === 200 && (await engine.status()).trng.queueCurrent >= 64;
    await until("queues filled", full);
    assert.match((await engine.status()).database.encryption!, /^aes-256-ctr, key in memory only \(queues dropped on restart\)$/);

    const served = new Windows();
    for (const b of await serve(engine)) served.add(b);
    // What is still queued, read without consuming it (consume off, as a client can switch it).
    await until("queues filled again", full);
    const queued = new Windows();
    await engine.setConsume(false);
    queued.add((await engine.take("fortuna", 200 * 1024, 0))!);
    queued.add((await engine.take("trng", 64 * 32, 0))!);
    await engine.setConsume(true);
    const before = await engine.status();
    assert.equal(before.fortuna.queueCurrent, 200);
    await engine.close();
    cleanups.pop();

    assert.ok(served.size > 100_000 && queued.size > 200_000);
    assert.deepEqual(served.foundIn(cfg.dbPath), [], "served bytes are on disk");
    assert.deepEqual(queued.foundIn(cfg.dbPath), [], "queued bytes are on disk");

    // A restart: a new key in memory, so what was queued can't be read and is dropped; the counters keep counting.
    engine = await openGatewayEngine(cfg, silentLogger);
    cleanups.push(() => engine.close());
    const after = await engine.status();
    // Both streams are paused while their queue is full, so nothing else was dropped (a TRNG sample read ahead may push one out).
    assert.equal(after.fortuna.queueDropped, before.fortuna.queueDropped + 200n);
    assert.ok(after.trng.queueDropped >= before.trng.queueDropped + BigInt(before.trng.queueCurrent));
    assert.equal(after.fortuna.consumedCount, before.fortuna.consumedCount);
    assert.ok(balancedStatus(after.trng) && balancedStatus(after.fortuna));
    assert.equal(engine.getConsume(), true);
    // New data flows and is served, and none of it is what was served or queued before.
    await until("queues refilled", full);
    const again = new Windows();
    for (const b of await serve(engine)) {
      assert.ok(windowsOf(b).every((w) => !served.has(w) && !queued.has(w)), "served again after the restart");
      again.add(b);
    }
    await engine.close();
    cleanups.pop();
    assert.deepEqual(served.foundIn(cfg.dbPath), [], "bytes served before the restart are on disk");
    assert.deepEqual(queued.foundIn(cfg.dbPath), [], "bytes queued before the restart are on disk");
    assert.deepEqual(again.foundIn(cfg.dbPath), [], "bytes served after the restart are on disk");
  });

  test("QUEUE_KEY_FILE: the queues survive a restart, encrypted on disk, and each byte is still served once", { timeout: 60_000 }, async () => {
    const dir = tempDir("at-rest-key");
    cleanups.push(() => dir.remove());
    const keyFile = join(dir.path, "queue.key");
    writeFileSync(keyFile, TEST_KEY.toString("hex") + "\n");
    const { controller, fortuna } = await upstreams();
    const dbPath = join(dir.path, "db");
    const { queueKey } = readGatewayEngineConfig(new EnvReader({ DB_PATH: dbPath, QUEUE_KEY_FILE: keyFile }));
    const cfg = testConfig(dbPath, controller.addr, [fortuna.addr], { trngQueueSize: 100, fortunaQueueSize: 100, fortunaItemBytes: 1024, queueKey });
    let engine = await openGatewayEngine(cfg, silentLogger);
    cleanups.push(() => engine.close());
    assert.match((await engine.status()).database.encryption!, /^aes-256-ctr, key from QUEUE_KEY_FILE \(queues kept across restarts\)$/);
    await until("fortuna full", async () => (await engine.status()).fortuna.queueCurrent === 100);
    const served = new Windows();
    served.add((await engine.take("fortuna", 30 * 1024 + 100, 0))!);
    await until("fortuna full", async () => (await engine.status()).fortuna.queueCurrent === 100);
    await engine.setConsume(false);
    const head = (await engine.take("fortuna", 100 * 1024 - 100, 0))!;
    const before = await engine.status();
    await engine.close();
    cleanups.pop();
    const kept = new Windows();
    kept.add(head);
    assert.deepEqual(served.foundIn(dbPath), []);
    assert.deepEqual(kept.foundIn(dbPath), []);

    // Fortuna down: only the queue can answer.
    await fortuna.server.close();
    engine = await openGatewayEngine(cfg, silentLogger);
    cleanups.push(() => engine.close());
    const after = await engine.status();
    assert.equal(after.fortuna.queueCurrent, 100);
    assert.equal(after.fortuna.queueDropped, before.fortuna.queueDropped);
    assert.deepEqual(await engine.take("fortuna", head.length, 0), head, "the queue reads the same after the restart");
    await engine.setConsume(true);
    const rest = (await engine.take("fortuna", head.length, 0, AbortSignal.timeout(5000)))!;
    assert.deepEqual(rest, head);
    assert.equal(await engine.take("fortuna", 1, 0, AbortSignal.timeout(500)), null, "everything queued was served, once");
    assert.ok(windowsOf(rest).every((w) => !served.has(w)), "a byte served before the restart came back");
  });

  test("queues stored unencrypted by an earlier version are dropped and compacted out of the files", async () => {
    const dir = tempDir("at-rest-legacy");
    const path = join(dir.path, "db");
    try {
      const plain = Buffer.from(Array.from({ length: 8 }, (_, i) => words(i * 256, 256)).flatMap((w) => [...w]));
      const legacy = new Windows();
      legacy.add(plain);
      const raw = await Rocks.open(path);
      const c = (name: "next_id" | "items" | "total_generated", n: bigint) => ({ type: "put" as const, key: counterKey("fortuna", name), value: u64(n) });
      await raw.batch([{ type: "put", key: segmentKey("fortuna", { first: 0n, count: 8, itemBytes: 1024 }), value: plain }, c("next_id", 8n), c("items", 8n), c("total_generated", 8n)], true);
      await raw.close();
      assert.ok(legacy.foundIn(path).length > 0, "the scan finds plaintext where there is some");

      const store = await QueueStore.open(path, { sizes: { trng: 10, fortuna: 100 }, consume: true });
      assert.deepEqual(store.atRest, { dropped: { trng: 0n, fortuna: 8n }, unencrypted: true, keyKept: false });
      assert.equal(store.counters("fortuna").dropped, 8n);
      assert.ok(balanced(store.counters("fortuna")));
      await store.close();
      assert.deepEqual(legacy.foundIn(path), [], "plaintext left by the earlier version is still on disk");
    } finally {
      dir.remove();
    }
  });
});

describe("queued randomness at rest, after kill -9", () => {
  const child = fileURLToPath(new URL("./fixtures/at-rest-child.ts", import.meta.url));

  function readLog(logPath: string): { enqueued: Windows; served: Windows; servedBytes: number } {
    const enqueued = new Windows();
    const served = new Windows();
    let servedBytes = 0;
    if (!existsSync(logPath)) return { enqueued, served, servedBytes };
    for (const line of readFileSync(logPath, "utf8").split("\n")) {
      const [tag, , hex] = line.split(" ");
      if (!hex || !/^[0-9a-f]+$/.test(hex)) continue;
      const bytes = Buffer.from(hex, "hex");
      // Served bytes were enqueued first: both lines count as enqueued.
      enqueued.add(bytes);
      if (tag === "s") {
        served.add(bytes);
        servedBytes += bytes.length;
      }
    }
    return { enqueued, served, servedBytes };
  }

  async function runAndKill(dbPath: string, logPath: string, keyHex: string): Promise<void> {
    const p = spawn(process.execPath, ["--import", "tsx", child, dbPath, logPath, keyHex], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
    for (;;) {
      if (p.exitCode !== null) throw new Error(`child exited early with ${p.exitCode}`);
      if (existsSync(logPath) && statSync(logPath).size > 400_000) break;
      await sleep(10);
    }
    await sleep(Math.floor(Math.random() * 30));
    p.kill("SIGKILL");
    await exited;
  }

  test("without a key file: nothing served or enqueued is on disk, and the reopened store drops the queues (counted)", { timeout: 120_000 }, async () => {
    const dir = tempDir("at-rest-kill");
    const dbPath = join(dir.path, "db");
    const logPath = join(dir.path, "log");
    try {
      await runAndKill(dbPath, logPath, "");
      const { enqueued, served, servedBytes } = readLog(logPath);
      assert.ok(servedBytes > 10_000, `${servedBytes} bytes served`);
      assert.deepEqual(served.foundIn(dbPath), [], "served bytes are on disk");
      assert.deepEqual(enqueued.foundIn(dbPath), [], "enqueued bytes are on disk");
      const store = await QueueStore.open(dbPath, { sizes: { trng: 256, fortuna: 256 }, consume: true });
      try {
        assert.equal(store.atRest.keyKept, false);
        for (const s of ["trng", "fortuna"] as SourceName[]) {
          assert.equal(store.counters(s).items, 0n);
          assert.ok(balanced(store.counters(s)));
          assert.deepEqual(await store.items(s), []);
        }
        assert.ok(store.atRest.dropped.trng + store.atRest.dropped.fortuna > 0n, "the queued items were dropped");
      } finally {
        await store.close();
      }
      assert.deepEqual(enqueued.foundIn(dbPath), [], "enqueued bytes are on disk after the reopen");
    } finally {
      dir.remove();
    }
  });

  test("with a key file: nothing is on disk in plaintext, and the reopened store serves what is left, none of it twice", { timeout: 120_000 }, async () => {
    const dir = tempDir("at-rest-kill-key");
    const dbPath = join(dir.path, "db");
    const logPath = join(dir.path, "log");
    try {
      await runAndKill(dbPath, logPath, TEST_KEY.toString("hex"));
      const { enqueued, served, servedBytes } = readLog(logPath);
      assert.ok(servedBytes > 10_000, `${servedBytes} bytes served`);
      assert.deepEqual(served.foundIn(dbPath), [], "served bytes are on disk");
      assert.deepEqual(enqueued.foundIn(dbPath), [], "enqueued bytes are on disk");
      const store = await QueueStore.open(dbPath, { sizes: { trng: 256, fortuna: 256 }, consume: true }, { key: TEST_KEY });
      try {
        assert.deepEqual(store.atRest.dropped, { trng: 0n, fortuna: 0n });
        for (const s of ["trng", "fortuna"] as SourceName[]) {
          assert.ok(balanced(store.counters(s)));
          const left = await store.items(s);
          assert.equal(BigInt(left.length), store.counters(s).items);
          // (Fortuna's reservation, 1 MiB ahead of its takes, covers all of its 256 KiB queue, so an
          // unclean stop drops it all: reservation.ts. The TRNG reserves nothing ahead.)
          if (s === "trng") assert.ok(left.length > 0, "trng: something is left to serve");
          // What is left decrypts to what was enqueued: each item's first or last 16 bytes are a run
          // of it (an item served in its middle keeps its front and its tail).
          const big = left.filter((i) => i.data.length >= WINDOW);
          assert.ok(big.every((i) => enqueued.has(i.data.subarray(0, WINDOW)) || enqueued.has(i.data.subarray(-WINDOW))), `${s}: the reopened queue holds bytes never enqueued`);
          const rest = (await store.take(s, left.reduce((n, i) => n + i.data.length, 0), 0, { consume: true }))!;
          assert.ok(windowsOf(rest).every((w) => !served.has(w)), `${s}: a byte served before the crash is served again`);
        }
      } finally {
        await store.close();
      }
    } finally {
      dir.remove();
    }
  });
});
