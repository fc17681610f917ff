import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certPaths, ensureCerts } from "../../../scripts/certs.js";
import { ConfigError, EnvReader, silentLogger } from "../../../runtime/src/index.js";
import { openGatewayEngine, readGatewayEngineConfig } from "../../src/engine/engine.js";
import { Rocks } from "../../src/engine/rocks.js";
import { SEED_SAMPLES } from "../../src/engine/seeder.js";
import { DIRECT_MARK, FakeController, FakeFortuna, SEED_MARK, STREAM_MARK, settled, testConfig, until } from "./fakes.js";
import { tempDir, TEST_KEY } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(over: Parameters<typeof testConfig>[3] = {}, fortunaCount = 1) {
  const dir = tempDir("engine");
  cleanups.push(() => dir.remove());
  const controller = await new FakeController().start();
  cleanups.push(() => controller.server.close());
  const fortunas = await Promise.all(Array.from({ length: fortunaCount }, () => new FakeFortuna().start()));
  for (const f of fortunas) cleanups.push(() => f.server.close());
  const cfg = testConfig(join(dir.path, "db"), controller.addr, fortunas.map((f) => f.addr), over);
  const engine = await openGatewayEngine(cfg, silentLogger);
  cleanups.push(() => engine.close());
  return { dir, controller, fortunas, fortuna: fortunas[0], engine, cfg };
}

const balanced = (q: { totalGenerated: bigint; queueCurrent: number; consumedCount: bigint; queueDropped: bigint }) =>
  q.totalGenerated === BigInt(q.queueCurrent) + q.consumedCount + q.queueDropped;

describe("gateway engine with fake upstreams", () => {
  test("seeds Fortuna at start with fresh controller samples, fills both queues, reports status and health", async () => {
    const { engine, controller, fortuna } = await setup();
    await until("fortuna seeded", () => engine.health().seeded);
    assert.equal(fortuna.seeds[0].length, SEED_SAMPLES);
    // Seed material came from Generate, not from the stream that feeds the queue.
    assert.ok(fortuna.seeds[0].every((s) => s.startsWith(SEED_MARK.toString(16)) && controller.generated.includes(s)));
    await until("queues full", async () => {
      const s = await engine.status();
      return s.trng.queueCurrent === 50 && s.fortuna.queueCurrent === 20;
    });
    const s = await engine.status();
    assert.equal(s.trng.origin, "emulator");
    assert.equal(s.fortuna.origin, "fortuna");
    assert.ok(s.trng.connected && s.fortuna.connected);
    assert.equal(s.trng.queuePercentage, 100);
    assert.ok(balanced(s.trng) && balanced(s.fortuna));
    assert.ok(s.database.sizeBytes > 0n);
    assert.match(s.database.sizeHuman, /^\d+(\.\d)? (B|KB|MB)$/);
    assert.deepEqual(engine.health(), { controller: true, fortuna: true, database: true, seeded: true });

    const out = await engine.take("trng", 64, 0);
    assert.equal(out!.length, 64);
    assert.equal(out![0], STREAM_MARK);
    assert.equal(out![32], STREAM_MARK);
    const seedBytes = new Set(controller.generated);
    assert.ok(!seedBytes.has(Buffer.from(out!.subarray(0, 32)).toString("hex")));
  });

  test("TRNG flow control: while the queue is full the stream is not read (nothing stored or dropped), and it resumes when room is made", async () => {
    const { engine, controller } = await setup({ trngQueueSize: 5 });
    await until("trng queue full", async () => (await engine.status()).trng.queueCurrent === 5);
    // The fake goes on streaming into the flow-control window (1 MiB, ~24,000 samples) before it is stopped;
    // none of that reaches the full queue.
    const streamed = controller.streamed;
    await until("the controller streamed on", () => controller.streamed > streamed + 200);
    let s = await engine.status();
    assert.equal(s.trng.queueDropped, 0n, "no sample arrived at the full queue");
    assert.equal(s.trng.totalGenerated, 5n);
    assert.equal((await engine.take("trng", 64, 0))!.length, 64);
    await until("refilled", async () => (await engine.status()).trng.queueCurrent === 5);
    s = await engine.status();
    assert.equal(s.trng.totalGenerated, 7n);
    assert.equal(s.trng.queueDropped, 0n);
    assert.ok(s.trng.connected && balanced(s.trng));
  });

  test("Fortuna flow control: the stream stops while the queue is full and resumes when room is made", async () => {
    const { engine, fortuna } = await setup({ fortunaQueueSize: 20, fortunaItemBytes: 64 });
    await until("fortuna queue full", async () => (await engine.status()).fortuna.queueCurrent === 20);
    const stalled = await settled(() => fortuna.chunks);
    // Nothing generated beyond the queue plus what transport buffers hold in flight.
    assert.ok(stalled < 20 + 2000, `generated ${stalled} chunks for a 20-item queue`);
    assert.equal((await engine.status()).fortuna.queueDropped, 0n);
    const got = await engine.take("fortuna", 64 * 10, 0);
    assert.equal(got!.length, 640);
    await until("refilled", async () => (await engine.status()).fortuna.queueCurrent === 20);
    assert.ok(fortuna.chunks >= stalled);
    assert.equal((await engine.status()).fortuna.queueDropped, 0n);
  });

  test("a Fortuna take larger than the queue is completed directly from Fortuna; without Fortuna it is all or nothing", async () => {
    const { engine, fortuna } = await setup({ fortunaQueueSize: 4, fortunaItemBytes: 16 });
    await until("fortuna queue full", async () => (await engine.status()).fortuna.queueCurrent === 4);
    const out = await engine.take("fortuna", 100, 0);
    assert.equal(out!.length, 100);
    assert.notEqual(out![0], DIRECT_MARK);
    assert.ok(out!.subarray(64).every((b) => b === DIRECT_MARK));
    assert.ok(fortuna.directCalls >= 1);

    await until("fortuna queue full again", async () => (await engine.status()).fortuna.queueCurrent === 4);
    fortuna.failGenerate = true;
    const before = await engine.status();
    assert.equal(await engine.take("fortuna", 100, 0), null);
    const after = await engine.status();
    assert.equal(after.fortuna.consumedCount, before.fortuna.consumedCount);
    assert.equal(after.fortuna.queueCurrent, 4);
  });

  test("reconnects to a restarted controller and reports the gap in health and status", async () => {
    const { engine, controller } = await setup();
    await until("trng flowing", async () => (await engine.status()).trng.totalGenerated > 5n);
    const port = controller.server.port;
    await controller.server.close();
    await until("controller down", async () => !engine.health().controller && !(await engine.status()).trng.connected);
    const during = (await engine.status()).trng.totalGenerated;
    const again = await new FakeController().start(port);
    cleanups.push(() => again.server.close());
    await until("controller back", async () => engine.health().controller && (await engine.status()).trng.totalGenerated > during + 5n && (await engine.status()).trng.connected);
    assert.ok((await engine.status()).trng.connected);
  });

  test("a seeding failure is visible in health and cleared by the next success", async () => {
    const dir = tempDir("engine");
    cleanups.push(() => dir.remove());
    const controller = await new FakeController().start();
    cleanups.push(() => controller.server.close());
    const fortuna = new FakeFortuna();
    fortuna.failSeed = true;
    await fortuna.start();
    cleanups.push(() => fortuna.server.close());
    const engine = await openGatewayEngine(testConfig(join(dir.path, "db"), controller.addr, [fortuna.addr]), silentLogger);
    cleanups.push(() => engine.close());
    await until("seed error reported", () => engine.health().seedError !== undefined);
    assert.equal(engine.health().seeded, false);
    assert.match(engine.health().seedError!, /seed rejected/);
    assert.equal((await engine.status()).fortuna.queueCurrent, 0);
    fortuna.failSeed = false;
    await until("seeded", () => engine.health().seeded);
    assert.equal(engine.health().seedError, undefined);
    await until("fortuna flowing", async () => (await engine.status()).fortuna.queueCurrent > 0);
  });

  test("several Fortuna instances: each is seeded with its own samples and feeds the queue", async () => {
    const { engine, fortunas } = await setup({ fortunaQueueSize: 40 }, 2);
    await until("both seeded", () => engine.health().seeded);
    const [a, b] = fortunas;
    assert.ok(a.seeds[0].every((s) => !b.seeds[0].includes(s)), "instances got the same seed");
    // Reading makes room, so neither instance is held back by the other filling the queue.
    await until("both streamed", async () => {
      await engine.take("fortuna", 64 * 20, 0);
      return a.chunks > 0 && b.chunks > 0;
    });
  });

  test("starts with upstreams down, serves nothing, reports degraded health", async () => {
    const dir = tempDir("engine");
    cleanups.push(() => dir.remove());
    const engine = await openGatewayEngine(testConfig(join(dir.path, "db"), "127.0.0.1:1", ["127.0.0.1:2"]), silentLogger);
    cleanups.push(() => engine.close());
    await until("seed error", () => engine.health().seedError !== undefined);
    const h = engine.health();
    assert.equal(h.controller, false);
    assert.equal(h.fortuna, false);
    assert.equal(h.database, true);
    assert.equal(await engine.take("trng", 1, 0), null);
    assert.equal(await engine.take("fortuna", 1, 0, AbortSignal.timeout(2000)), null);
  });

  test("with QUEUE_KEY_FILE, after a restart with both upstreams down, what is queued is still served", async () => {
    // Without a key file the queues are dropped on restart instead (at-rest.test.ts).
    const { engine, cfg, controller, fortunas } = await setup({ queueKey: TEST_KEY });
    await until("queues full", async () => {
      const s = await engine.status();
      return s.trng.queueCurrent === 50 && s.fortuna.queueCurrent === 20;
    });
    await engine.close();
    cleanups.splice(cleanups.length - 1, 1);
    await controller.server.close();
    await fortunas[0].server.close();
    const reopened = await openGatewayEngine(cfg, silentLogger);
    cleanups.push(() => reopened.close());
    const s = await reopened.status();
    assert.equal(s.trng.queueCurrent, 50);
    assert.equal(s.fortuna.queueCurrent, 20);
    assert.equal((await reopened.take("trng", 50 * 32, 0))!.length, 50 * 32);
    assert.equal((await reopened.take("fortuna", 20 * 64, 0))!.length, 20 * 64);
    assert.equal(await reopened.take("trng", 1, 0), null);
    assert.equal(reopened.health().controller, false);
  });

  test("takeSome waits for data, and rejects when its signal aborts", async () => {
    const { engine, controller } = await setup({ trngQueueSize: 3 });
    controller.intervalMs = 50;
    const got = await engine.takeSome("trng", 1000, AbortSignal.timeout(10_000));
    assert.ok(got.length >= 1 && got.length <= 1000);
    const ac = new AbortController();
    await until("drained", async () => {
      await engine.takeSome("trng", 1000, AbortSignal.timeout(10_000));
      return (await engine.status()).trng.queueCurrent === 0;
    });
    await controller.server.close();
    const pending = engine.takeSome("trng", 10, ac.signal);
    ac.abort(new Error("client went away"));
    await assert.rejects(pending, /client went away/);
  });

  test("queue sizes and consume mode apply at once and persist across a restart", async () => {
    const { engine, cfg } = await setup({ trngQueueSize: 30 });
    await until("trng full", async () => (await engine.status()).trng.queueCurrent === 30);
    assert.deepEqual(await engine.setQueueConfig({ trng: 10 }), { trng: 10, fortuna: 20 });
    const s = await engine.status();
    assert.ok(s.trng.queueCurrent <= 10);
    assert.equal(await engine.setConsume(false), false);
    // A full Fortuna queue doesn't move (flow control), so reads must repeat.
    await until("fortuna full", async () => (await engine.status()).fortuna.queueCurrent === 20);
    const a = await engine.take("fortuna", 8, 0);
    const b = await engine.take("fortuna", 8, 0);
    assert.deepEqual(a, b);
    assert.equal((await engine.status()).fortuna.consumedCount, 0n);
    await engine.close();
    cleanups.pop(); // already closed
    const reopened = await openGatewayEngine({ ...cfg, trngQueueSize: 999 }, silentLogger);
    cleanups.push(() => reopened.close());
    assert.deepEqual(reopened.getQueueConfig(), { trng: 10, fortuna: 20 });
    assert.equal(reopened.getConsume(), false);
  });

  test("a queue size the database's disk cannot hold is refused with the field named, and nothing changes", async () => {
    // 10^7 items of 1 MiB would need ~21 TB: no disk this runs on has that free.
    const { engine } = await setup({ fortunaItemBytes: 1 << 20 });
    const before = engine.getQueueConfig();
    await assert.rejects(engine.setQueueConfig({ fortuna: 10_000_000 }), (e: ConnectError) => e.code === Code.InvalidArgument && /^fortuna_queue_size: .*free/.test(e.rawMessage));
    assert.deepEqual(engine.getQueueConfig(), before);
    // Shrinking never needs room, and a size that fits is taken.
    assert.deepEqual(await engine.setQueueConfig({ fortuna: 2, trng: before.trng + 10 }), { fortuna: 2, trng: before.trng + 10 });
  });

  test("metrics: the documented gauges are current at scrape time", async () => {
    const { engine } = await setup();
    await until("queues full", async () => {
      const s = await engine.status();
      return s.trng.queueCurrent === 50 && s.fortuna.queueCurrent === 20;
    });
    await engine.setQueueConfig({ trng: 40 });
    await new Promise((r) => setTimeout(r, 250)); // past the per-scrape snapshot window
    const text = await engine.metrics.metrics();
    for (const g of ["trng_queue_current", "trng_queue_capacity", "trng_queue_percentage", "trng_consumed", "trng_unconsumed",
      "fortuna_queue_current", "fortuna_queue_capacity", "fortuna_queue_percentage", "fortuna_consumed", "fortuna_unconsumed",
      "database_size_bytes", "process_resident_memory_bytes"]) {
      assert.match(text, new RegExp(`^${g} `, "m"), g);
    }
    assert.match(text, /^trng_queue_capacity 40$/m);
    assert.match(text, /^fortuna_queue_percentage 100$/m);
    assert.match(text, /^gateway_items_received_total\{source="trng"\} [1-9]/m);
  });

  test("an unusable DB_PATH fails start-up with a ConfigError naming DB_PATH", async () => {
    const dir = tempDir("engine");
    cleanups.push(() => dir.remove());
    const file = join(dir.path, "not-a-dir");
    writeFileSync(file, "x");
    await assert.rejects(openGatewayEngine(testConfig(file, "127.0.0.1:1", ["127.0.0.1:2"]), silentLogger), (e: Error) => e instanceof ConfigError && e.variable === "DB_PATH");
    const corrupt = join(dir.path, "corrupt");
    await openGatewayEngine(testConfig(corrupt, "127.0.0.1:1", ["127.0.0.1:2"]), silentLogger).then((e) => e.close());
    writeFileSync(join(corrupt, "CURRENT"), "MANIFEST-999999\n");
    await assert.rejects(openGatewayEngine(testConfig(corrupt, "127.0.0.1:1", ["127.0.0.1:2"]), silentLogger), (e: Error) => e instanceof ConfigError && /DB_PATH/.test(e.message));
    // A queue entry in another layout (one item per key, as before segments) is refused by name, not misread.
    const older = join(dir.path, "older");
    const raw = await Rocks.open(older);
    await raw.batch([{ type: "put", key: Buffer.concat([Buffer.from("q/fortuna/"), Buffer.alloc(8)]), value: Buffer.alloc(1024) }], true);
    await raw.close();
    await assert.rejects(openGatewayEngine(testConfig(older, "127.0.0.1:1", ["127.0.0.1:2"]), silentLogger), (e: Error) => e instanceof ConfigError && e.variable === "DB_PATH" && /not in this version's layout/.test(e.message));
  });

  test("configuration: defaults, address lists, and bad values named", () => {
    const d = readGatewayEngineConfig(new EnvReader({}));
    assert.equal(d.dbPath, "./data/gateway");
    assert.deepEqual(d.controllers.map((c) => c.spec), ["127.0.0.1:8081"]);
    assert.deepEqual(d.fortunas.map((f) => f.spec), ["127.0.0.1:8082"]);
    assert.equal(d.trngQueueSize, 1000);
    assert.equal(d.fortunaQueueSize, 5000);
    assert.equal(d.reseedIntervalMs, 30_000);
    // Upstreams off this machine are reached over mutual TLS or not at all.
    const remote = { FORTUNA_ADDR: "http://fortuna-1:8082, 10.0.0.2:8083" };
    assert.throws(() => readGatewayEngineConfig(new EnvReader(remote)), (e: Error) => e instanceof ConfigError && e.variable === "FORTUNA_ADDR" && /UPSTREAM_CA_FILE/.test(e.message));
    const certs = mkdtempSync(join(tmpdir(), "lokey-certs-"));
    try {
      ensureCerts(certs);
      const p = certPaths(certs, "gateway");
      const m = readGatewayEngineConfig(new EnvReader({ ...remote, UPSTREAM_CA_FILE: p.ca, UPSTREAM_CERT_FILE: p.cert, UPSTREAM_KEY_FILE: p.key }));
      assert.deepEqual(m.fortunas.map((f) => f.spec), ["fortuna-1:8082", "10.0.0.2:8083"]);
      assert.ok(m.upstreamTls?.cert && m.upstreamTls.key && m.upstreamTls.ca);
      assert.throws(() => readGatewayEngineConfig(new EnvReader({ UPSTREAM_CERT_FILE: p.cert, UPSTREAM_KEY_FILE: p.key })), (e: Error) => e instanceof ConfigError && e.variable === "UPSTREAM_CA_FILE");
      assert.throws(() => readGatewayEngineConfig(new EnvReader({ UPSTREAM_CA_FILE: p.ca, UPSTREAM_CERT_FILE: p.cert, UPSTREAM_KEY_FILE: certPaths(certs, "fortuna").key })), (e: Error) => e instanceof ConfigError && e.variable === "UPSTREAM_KEY_FILE");
    } finally {
      rmSync(certs, { recursive: true, force: true });
    }
    for (const [k, v] of [["TRNG_QUEUE_SIZE", "0"], ["FORTUNA_ITEM_BYTES", "abc"], ["TRNG_POLL_INTERVAL_MS", "-5"], ["CONTROLLER_ADDR", "nohost"]]) {
      assert.throws(() => readGatewayEngineConfig(new EnvReader({ [k]: v })), (e: Error) => e instanceof ConfigError && e.variable === k);
    }
  });
});
