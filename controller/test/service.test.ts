import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ControllerService, EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ConfigError, createGrpcClient, EnvReader, HealthRegistry, silentLogger, startServer } from "../../runtime/src/index.js";
import { Atecc608aEmulator } from "../src/atecc608a/emulator.js";
import { UNLOCKED_TEST_PATTERN } from "../src/atecc608a/protocol.js";
import { condition, RANDOM_OUTPUTS_PER_SAMPLE, RAW_BYTES_PER_SAMPLE } from "../src/conditioning.js";
import { readControllerConfig } from "../src/config.js";
import { Harvester } from "../src/harvester.js";
import { controllerBinding, trackHealth } from "../src/service.js";
import { openSource, StartupError } from "../src/setup.js";
import { getJson, startRig, until, type Rig } from "./rig.js";

/** The rig as the service starts it: openSource decides (and, when forced, configures) first. */
async function rig(opts: { configured?: boolean; force?: boolean } = {}): Promise<Rig> {
  const emu = new Atecc608aEmulator({ timing: "fast", configured: opts.configured ?? true });
  const cfg = readControllerConfig(new EnvReader({ TRNG_DEVICE: "i2c", FORCE_CONFIG: String(opts.force ?? false) }));
  const { blockedReason } = await openSource(cfg, silentLogger, async () => emu);
  return startRig({ blockedReason, generateTimeoutMs: 300 }, emu);
}

describe("ControllerService with the emulator", () => {
  let r: Rig;
  before(async () => {
    r = await rig();
    await until(() => r.harvester.status().serving, "serving after start-up tests");
  });
  after(() => r.close());

  test("StreamSamples over gRPC: 32-byte samples, labelled emulator, increasing sequence", async () => {
    const client = createGrpcClient(ControllerService, `127.0.0.1:${r.server.port}`);
    const seen: bigint[] = [];
    const datas = new Set<string>();
    for await (const s of client.streamSamples({})) {
      assert.equal(s.data.length, 32);
      assert.equal(s.source, EntropySource.EMULATOR);
      seen.push(s.sequence);
      datas.add(Buffer.from(s.data).toString("hex"));
      if (seen.length === 20) break;
    }
    client.close();
    assert.ok(seen.every((v, i) => i === 0 || v > seen[i - 1]), `increasing: ${seen}`);
    assert.equal(datas.size, 20, "each sample handed out once");
  });

  test("Generate over gRPC and the documented REST shapes", async () => {
    const client = createGrpcClient(ControllerService, `127.0.0.1:${r.server.port}`);
    const res = await client.generate({ count: 3 });
    client.close();
    assert.equal(res.data.length, 3);
    assert.equal(res.source, EntropySource.EMULATOR);
    const one = await getJson(`${r.base}/generate`);
    assert.equal(one.status, 200);
    assert.match(one.body.data, /^[0-9a-f]{64}$/);
    const many = await getJson(`${r.base}/generate?count=5`);
    assert.equal(many.body.data.length, 5);
    for (const h of many.body.data) assert.match(h, /^[0-9a-f]{64}$/);
    for (const bad of ["0", "101", "x"]) {
      const e = await getJson(`${r.base}/generate?count=${bad}`);
      assert.equal(e.status, 400, bad);
      assert.equal(typeof e.body.error, "string");
    }
    await assert.rejects(createClient(ControllerService, createConnectTransport({ baseUrl: r.base, httpVersion: "1.1" })).generate({ count: 101 }),
      (e: ConnectError) => e.code === Code.InvalidArgument);
  });

  test("GET /info and GET /health describe the device and the health tests", async () => {
    const info = await getJson(`${r.base}/info`);
    assert.equal(info.body.source, "emulator");
    assert.equal(info.body.revision, "00006002");
    assert.match(info.body.serial_number, /^0123[0-9a-f]{12}ee$/);
    assert.equal(info.body.config_locked, true);
    assert.equal(info.body.i2c_address, 0x60);
    assert.ok(info.body.samples_harvested > 0);
    assert.equal(info.body.health_tests.repetition_cutoff, 6);
    assert.equal(info.body.health_tests.adaptive_proportion_cutoff, 19);
    assert.equal(info.body.health_tests.monobit_window_bits, 4096);
    assert.deepEqual([info.body.health_tests.monobit_min_ones, info.body.health_tests.monobit_max_ones], [1852, 2244]);
    assert.ok(info.body.health_tests.startup_tests_passed >= 1);
    // The emulator's output is labelled as such and is credited with no entropy.
    assert.equal(info.body.raw_bytes_per_sample, 64);
    assert.equal(info.body.credited_input_entropy_bits, 0);
    assert.match(info.body.entropy_claim, /^none: the ATECC608A emulator/);
    const health = await getJson(`${r.base}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "healthy");
    assert.equal(health.body.device_ok, true);
  });

  test("a stuck chip stalls the stream and flips health with the reason; recovery after fresh samples pass", async () => {
    const grpcHealth = createClient(Health, createConnectTransport({ baseUrl: r.base, httpVersion: "1.1" }));
    r.emu.faults.stuck = 0x00;
    await until(() => !r.harvester.status().serving, "health tests fail");
    const h = await getJson(`${r.base}/health`);
    assert.equal(h.status, 503);
    assert.match(h.body.reason, /repetition count|adaptive proportion/);
    assert.equal((await grpcHealth.check({ service: "" })).status, Status.NOT_SERVING);
    const gen = await getJson(`${r.base}/generate`);
    assert.equal(gen.status, 503);
    // Whatever is delivered while stuck must not be the hash of the stuck block.
    const stuckHash = Buffer.from(condition([new Uint8Array(RAW_BYTES_PER_SAMPLE)])).toString("hex");
    r.emu.faults.stuck = undefined;
    await until(() => r.harvester.status().serving, "recovered");
    const client = createGrpcClient(ControllerService, `127.0.0.1:${r.server.port}`);
    for await (const s of client.streamSamples({})) {
      assert.notEqual(Buffer.from(s.data).toString("hex"), stuckHash);
      break;
    }
    client.close();
    assert.equal((await grpcHealth.check({ service: ControllerService.typeName })).status, Status.SERVING);
  });

  test("a biased chip trips the health tests (bias.test.ts counts what gets out)", async () => {
    const failures = (t = r.harvester.status().tests) => t.adaptiveProportionFailures + t.monobitFailures;
    const before = failures();
    r.emu.faults.bias = 0.9;
    await until(() => failures() > before, "APT or monobit failure");
    r.emu.faults.bias = undefined;
    await until(() => r.harvester.status().serving, "recovered");
  });

  test("chip absent mid-run: device_ok false, clear errors; the stream resumes by itself when it is back", async () => {
    const client = createGrpcClient(ControllerService, `127.0.0.1:${r.server.port}`);
    const stream = client.streamSamples({})[Symbol.asyncIterator]();
    assert.equal((await stream.next()).done, false);
    r.emu.faults.absent = true;
    await until(() => !r.harvester.status().deviceOk, "device failure noticed");
    const h = await getJson(`${r.base}/health`);
    assert.equal(h.body.device_ok, false);
    assert.match(h.body.reason, /device failing/);
    const gen = await getJson(`${r.base}/generate`);
    assert.equal(gen.status, 503);
    r.emu.faults.absent = false;
    // Drain whatever was buffered before the fault, then a fresh sample arrives on the same stream.
    const before = r.harvester.status().harvested;
    for (;;) {
      const n = await stream.next();
      assert.equal(n.done, false);
      if (n.value.sequence >= before) break;
    }
    await stream.return?.();
    client.close();
    assert.equal(r.harvester.status().deviceOk, true);
  });

  test("bad response CRCs are retried without losing service", async () => {
    r.emu.faults.corruptCrc = 3;
    const client = createGrpcClient(ControllerService, `127.0.0.1:${r.server.port}`);
    const res = await client.generate({ count: 10 });
    client.close();
    assert.equal(res.data.length, 10);
  });

  test("backpressure: with nobody reading, the buffer stays bounded and only slow probes run", async () => {
    await delay(30);
    const a = r.emu.stats.randoms;
    await delay(100);
    assert.equal(r.harvester.buffered, 4);
    // Free-running the fast emulator harvests thousands a second; paused, one probe sample per 20 ms.
    assert.ok(r.emu.stats.randoms - a <= (100 / 20 + 2) * RANDOM_OUTPUTS_PER_SAMPLE, `${r.emu.stats.randoms - a} Random commands while paused`);
  });
});

describe("an unlocked chip", () => {
  test("without FORCE_CONFIG nothing is served, and the test pattern never reaches a client", async () => {
    const r = await rig({ configured: false });
    try {
      const h = await getJson(`${r.base}/health`);
      assert.equal(h.status, 503);
      assert.match(h.body.reason, /FORCE_CONFIG/);
      assert.equal((await getJson(`${r.base}/generate`)).status, 503);
      assert.equal((await getJson(`${r.base}/info`)).body.config_locked, false);
      assert.equal(r.emu.stats.randoms, 0);
    } finally {
      await r.close();
    }
  });

  test("with FORCE_CONFIG it is configured at start-up and then serves random data", async () => {
    const r = await rig({ configured: false, force: true });
    try {
      assert.equal(r.emu.config[87], 0x00);
      await until(() => r.harvester.status().serving, "serving");
      const g = await getJson(`${r.base}/generate`);
      const patternHash = Buffer.from(condition(Array(RANDOM_OUTPUTS_PER_SAMPLE).fill(UNLOCKED_TEST_PATTERN))).toString("hex");
      assert.notEqual(g.body.data, patternHash);
    } finally {
      await r.close();
    }
  });
});

describe("source selection", () => {
  const env = (vars: Record<string, string>) => readControllerConfig(new EnvReader(vars));
  const noBus = async () => {
    throw Object.assign(new Error("ENOENT: no such file or directory, open '/dev/i2c-1'"), { code: "ENOENT" });
  };

  test("auto without a chip falls back to the OS CSPRNG, labelled as such", async () => {
    const { source } = await openSource(env({}), silentLogger, noBus);
    assert.equal(source.kind, EntropySource.OS);
    const absent = new Atecc608aEmulator({ timing: "fast", faults: { absent: true } });
    assert.equal((await openSource(env({}), silentLogger, async () => absent)).source.kind, EntropySource.OS);
  });

  test("auto with a chip answering uses it", async () => {
    const { source } = await openSource(env({}), silentLogger, async () => new Atecc608aEmulator({ timing: "fast", configured: true }));
    assert.equal(source.kind, EntropySource.ATECC608A);
    await source.close();
  });

  test("TRNG_REQUIRE_HARDWARE and TRNG_DEVICE=i2c refuse the fallback; bad values name the variable", async () => {
    await assert.rejects(openSource(env({ TRNG_REQUIRE_HARDWARE: "true" }), silentLogger, noBus), StartupError);
    await assert.rejects(openSource(env({ TRNG_DEVICE: "i2c" }), silentLogger, noBus), StartupError);
    assert.throws(() => env({ TRNG_REQUIRE_HARDWARE: "true", TRNG_DEVICE: "os" }), /TRNG_REQUIRE_HARDWARE/);
    assert.throws(() => env({ I2C_ADDRESS: "0x99" }), /I2C_ADDRESS/);
    assert.throws(() => env({ TRNG_DEVICE: "usb" }), /TRNG_DEVICE/);
    assert.equal(env({ I2C_ADDRESS: "0x35" }).i2cAddress, 0x35);
  });

  test("EMULATOR_SERIAL is the emulated chip's serial number; a malformed one, or one for a real chip, names the variable", async () => {
    const serial = "0123a1b2c3d4e5f6ee";
    const { source } = await openSource(env({ TRNG_DEVICE: "emulator", EMULATOR_SERIAL: serial.toUpperCase() }), silentLogger);
    try {
      assert.equal(source.describe().serialNumber, serial);
    } finally {
      await source.close();
    }
    for (const bad of ["0123a1b2c3d4e5f6", "4567a1b2c3d4e5f6ee", "0123a1b2c3d4e5f6ef", "0123a1b2c3d4e5g6ee"]) {
      assert.throws(() => env({ TRNG_DEVICE: "emulator", EMULATOR_SERIAL: bad }), (e: Error) => e instanceof ConfigError && e.variable === "EMULATOR_SERIAL", bad);
    }
    assert.throws(() => env({ EMULATOR_SERIAL: serial }), (e: Error) => e instanceof ConfigError && /TRNG_DEVICE=emulator only/.test(e.message));
  });

  test("the OS fallback serves over REST with source \"os\"", async () => {
    const { source } = await openSource(env({ TRNG_DEVICE: "os" }), silentLogger);
    const harvester = new Harvester(source, { log: silentLogger, bufferSize: 2 });
    const health = new HealthRegistry();
    trackHealth(harvester, health);
    harvester.start();
    const server = await startServer({
      name: "t", port: 0, host: "127.0.0.1", log: silentLogger, health,
      bindings: [controllerBinding({ harvester, health, i2cBus: 1, i2cAddress: 0x60 })], onClose: () => harvester.stop(),
    });
    try {
      await until(() => harvester.status().serving, "os serving");
      const info = await getJson(`http://127.0.0.1:${server.port}/info`);
      assert.equal(info.body.source, "os");
      assert.equal(info.body.revision, "");
      assert.equal(info.body.credited_input_entropy_bits, 0);
      assert.match(info.body.entropy_claim, /^none: the operating system's CSPRNG \(fallback, not a hardware noise source/);
      const h = await getJson(`http://127.0.0.1:${server.port}/health`);
      assert.equal(h.body.source, "os");
    } finally {
      await server.close();
    }
  });
});
