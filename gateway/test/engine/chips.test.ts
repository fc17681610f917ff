// Several controllers, one chip each (issue 15): the gateway streams from all
// of them at once, shows each chip by serial number in status and metrics,
// keeps feeding from the others when one fails, and seeds Fortuna from every
// chip whose health tests pass, each chip in a Seed call of its own that
// names it (Fortuna's source per chip).
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { silentLogger } from "../../../runtime/src/index.js";
import { TRNG_STREAM_WINDOW_BYTES } from "../../src/engine/controllers.js";
import { openGatewayEngine } from "../../src/engine/engine.js";
import { FORTUNA_POOLS, MAX_SEED_CHIPS, SEED_SAMPLES } from "../../src/engine/seeder.js";
import type { ChipStatus, GatewayEngine } from "../../src/engine/types.js";
import { FakeController, FakeFortuna, settled, testConfig, until } from "./fakes.js";
import { tempDir } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// Liveness bounds for a loaded 2-core machine, not performance targets.
const BOUND_MS = 15_000;
const SERIALS = ["0123000000000001ee", "0123000000000002ee", "0123000000000003ee"];

async function chips(serials: string[]): Promise<FakeController[]> {
  return Promise.all(
    serials.map(async (serial) => {
      const c = new FakeController();
      c.serial = serial;
      c.intervalMs = 5;
      await c.start();
      cleanups.push(() => c.server.close());
      return c;
    }),
  );
}

async function gateway(controllers: string, fortuna: FakeFortuna, reseedIntervalMs = 200): Promise<GatewayEngine> {
  const dir = tempDir("chips");
  cleanups.push(() => dir.remove());
  // Room for everything the test streams: a full TRNG queue stops its streams (feeder.ts).
  const engine = await openGatewayEngine(testConfig(join(dir.path, "db"), controllers, [fortuna.addr], { trngQueueSize: 1_000_000, reseedIntervalMs }), silentLogger);
  cleanups.push(() => engine.close());
  return engine;
}

const bySerial = async (engine: GatewayEngine): Promise<Map<string, ChipStatus>> => new Map((await engine.status()).chips.map((c) => [c.serialNumber, c]));

describe("several controllers", () => {
  test("all stream at once; status and metrics show each chip; a killed one is shown gone while the others feed on", async () => {
    const controllers = await chips(SERIALS);
    const fortuna = await new FakeFortuna().start();
    cleanups.push(() => fortuna.server.close());
    const engine = await gateway(controllers.map((c) => c.addr).join(","), fortuna);

    await until("every chip streaming", async () => {
      const m = await bySerial(engine);
      return SERIALS.every((s) => m.get(s)?.connected && m.get(s)!.samplesDelivered > 0n);
    }, BOUND_MS);
    const status = await engine.status();
    assert.deepEqual(status.chips.map((c) => [c.serialNumber, c.address, c.target, c.origin]), SERIALS.map((s, i) => [s, controllers[i].addr, controllers[i].addr, "emulator"]));
    assert.equal(status.trng.connected, true);
    assert.equal(status.trng.origin, "emulator");
    const metrics = await engine.metrics.metrics();
    for (const [i, s] of SERIALS.entries()) {
      assert.match(metrics, new RegExp(`^trng_chip_samples_delivered_total\\{serial="${s}",address="${controllers[i].addr}"\\} [1-9]`, "m"));
      assert.match(metrics, new RegExp(`^trng_chip_connected\\{serial="${s}",address="${controllers[i].addr}"\\} 1$`, "m"));
    }

    // The first seeding: a round of the pools from each chip (SEED_ROUNDS shared
    // among three), each chip's samples in a Seed call naming it.
    await until("a seeding from every chip", () => SERIALS.every((s) => fortuna.seedChips.includes(s)), BOUND_MS);
    assert.deepEqual(fortuna.seedChips.slice(0, 3).sort(), SERIALS);
    assert.ok(fortuna.seeds.slice(0, 3).every((seeds) => seeds.length === FORTUNA_POOLS));
    await until("chips show what they seeded", async () => [...(await bySerial(engine)).values()].every((c) => c.samplesSeeded >= BigInt(FORTUNA_POOLS)), BOUND_MS);

    await controllers[1].server.close();
    await until("chip 2 seen gone", async () => {
      const c = (await bySerial(engine)).get(SERIALS[1]);
      return c !== undefined && !c.connected && c.lastError !== "";
    }, BOUND_MS);
    assert.equal(engine.health().controller, true, "the others still answer");
    assert.equal((await engine.status()).trng.connected, true);
    assert.match(await engine.metrics.metrics(), new RegExp(`^trng_chip_connected\\{serial="${SERIALS[1]}",address="${controllers[1].addr}"\\} 0$`, "m"));
    const before = await bySerial(engine);
    await until("chips 1 and 3 feeding on", async () => {
      const now = await bySerial(engine);
      return [0, 2].every((i) => now.get(SERIALS[i])!.samplesDelivered >= before.get(SERIALS[i])!.samplesDelivered + 20n);
    }, BOUND_MS);

    // Seedings go on from the two left (a seeding already under way when the
    // chip went may still name it: those entries are skipped).
    const seen = fortuna.seedChips.length;
    await until("three more seedings", () => fortuna.seedChips.length >= seen + 6, BOUND_MS);
    const later = fortuna.seedChips.slice(seen + 3);
    assert.ok(!later.includes(SERIALS[1]), later.join(" "));
    assert.ok(later.includes(SERIALS[0]) && later.includes(SERIALS[2]));
  });

  test("a chip whose health tests fail gives no seed material; the others make the seedings", async () => {
    const controllers = await chips(SERIALS.slice(0, 2));
    // What a controller does while its health tests fail: NOT_SERVING, and Generate refused.
    controllers[0].server.health.setAll("NOT_SERVING", []);
    controllers[0].failGenerate = true;
    const fortuna = await new FakeFortuna().start();
    cleanups.push(() => fortuna.server.close());
    const engine = await gateway(controllers.map((c) => c.addr).join(","), fortuna);

    await until("the first chip seen unhealthy", async () => (await bySerial(engine)).get(SERIALS[0])?.healthy === false && engine.health().controller, BOUND_MS);
    const asked = controllers[0].generateCalls;
    const seen = fortuna.seeds.length;
    await until("two more seedings", () => fortuna.seeds.length >= seen + 2, BOUND_MS);
    // Only the healthy chip, and alone it gives both rounds, in one Seed call.
    assert.deepEqual(fortuna.seedChips.slice(seen), fortuna.seedChips.slice(seen).map(() => SERIALS[1]));
    assert.ok(fortuna.seeds.slice(seen).every((seeds) => seeds.length === SEED_SAMPLES));
    assert.equal(controllers[0].generateCalls, asked, "a chip known to be failing is not asked");
    // Every seeding so far, the first included (made before the health answers
    // were in, when the failing chip was still asked and refused), seeded.
    assert.ok(fortuna.seeds.every((seeds) => seeds.length === SEED_SAMPLES));
  });

  test("more chips than a seeding asks take turns; a chip Fortuna has no source left for is skipped", async () => {
    const serials = Array.from({ length: MAX_SEED_CHIPS + 2 }, (_, i) => `0123${String(i).padStart(12, "0")}ee`);
    const controllers = await chips(serials);
    const fortuna = new FakeFortuna();
    fortuna.refuseChip = serials[0];
    await fortuna.start();
    cleanups.push(() => fortuna.server.close());
    const engine = await gateway(controllers.map((c) => c.addr).join(","), fortuna);
    await until("three seedings", async () => (await engine.status()).fortunaInstances[0]?.seeded && fortuna.seedChips.length >= 3 * MAX_SEED_CHIPS, BOUND_MS);
    // Each seeding asks MAX_SEED_CHIPS chips, one round each; over two seedings every chip took part.
    for (const [i, seeding] of [fortuna.seedChips.slice(0, MAX_SEED_CHIPS), fortuna.seedChips.slice(MAX_SEED_CHIPS, 2 * MAX_SEED_CHIPS)].entries()) {
      assert.equal(new Set(seeding).size, MAX_SEED_CHIPS, `seeding ${i}: ${seeding.join(" ")}`);
    }
    assert.deepEqual([...new Set(fortuna.seedChips.slice(0, 2 * MAX_SEED_CHIPS))].sort(), serials);
    assert.ok(fortuna.seeds.every((seeds) => seeds.length === FORTUNA_POOLS));
    // The refused chip's seeds were not counted; the others' were, and the seedings went on.
    const status = await bySerial(engine);
    assert.equal(status.get(serials[0])!.samplesSeeded, 0n);
    assert.ok(status.get(serials[1])!.samplesSeeded > 0n);
    assert.equal(engine.health().seedError, undefined);
  });

  test("a full TRNG queue holds its controllers back within a small window, not half an hour of their chips", async () => {
    const [controller] = await chips([SERIALS[0]]);
    controller.intervalMs = 0;
    const fortuna = await new FakeFortuna().start();
    cleanups.push(() => fortuna.server.close());
    const dir = tempDir("chips");
    cleanups.push(() => dir.remove());
    const engine = await openGatewayEngine(testConfig(join(dir.path, "db"), controller.addr, [fortuna.addr], { trngQueueSize: 50 }), silentLogger);
    cleanups.push(() => engine.close());
    await until("the TRNG queue full", async () => (await engine.status()).trng.queueCurrent === 50, BOUND_MS);
    // The controller stops once the window (and the buffers around it) are full.
    const sent = await settled(() => controller.streamed);
    const stored = Number((await engine.status()).trng.totalGenerated);
    console.log(`chips: ${sent - stored} samples in flight past a full queue (window ${TRNG_STREAM_WINDOW_BYTES} B)`);
    // The channel's 1 MiB default let ~24,000 through here.
    assert.ok(sent - stored < 2000, `${sent - stored} samples sent past a full queue`);
  });

  test("a controller with no serial (the OS fallback) is named by its address towards Fortuna", async () => {
    const [controller] = await chips([""]);
    const fortuna = await new FakeFortuna().start();
    cleanups.push(() => fortuna.server.close());
    const engine = await gateway(controller.addr, fortuna);
    await until("a seeding", () => fortuna.seeds.length >= 1, BOUND_MS);
    assert.equal(fortuna.seedChips[0], controller.addr);
    assert.equal((await engine.status()).chips[0].serialNumber, "");
  });
});
