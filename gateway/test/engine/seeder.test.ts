// How much the gateway seeds Fortuna with: enough that every seeding reseeds it
// through Fortuna's own pool rules (issue 12, item 4). The per-seeding amount
// is derived from the design's parameters; these tests hold it to Fortuna's
// code and to the contracts it travels through.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { GenerateRequestSchema } from "../../../gen/lokey/controller/v1/controller_pb.js";
import { SeedRequestSchema } from "../../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { fieldRules } from "../../../runtime/src/rules.js";
import { silentLogger } from "../../../runtime/src/index.js";
import { MIN_POOL_SIZE } from "../../../fortuna/src/accumulator.js";
import { MAX_EVENT_BYTES, POOL_COUNT } from "../../../fortuna/src/pools.js";
import { openGatewayEngine } from "../../src/engine/engine.js";
import { FORTUNA_MIN_POOL_SIZE, FORTUNA_POOLS, SAMPLE_BYTES, SEED_ROUNDS, SEED_SAMPLES } from "../../src/engine/seeder.js";
import { FakeController, FakeFortuna, SEED_MARK, testConfig, until } from "./fakes.js";
import { tempDir } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("the gateway's seeding amount", () => {
  test("is derived from Fortuna's pool count and MinPoolSize, and agrees with Fortuna's code", () => {
    assert.equal(FORTUNA_POOLS, POOL_COUNT);
    assert.equal(FORTUNA_MIN_POOL_SIZE, MIN_POOL_SIZE);
    // Each sample is one event: no longer than an event may be.
    assert.ok(SAMPLE_BYTES <= MAX_EVENT_BYTES);
    assert.equal(SEED_ROUNDS, 2);
    assert.equal(SEED_SAMPLES, 64);
    assert.equal(SEED_SAMPLES * SAMPLE_BYTES, 2048);
  });

  test("fits the contracts: one Generate call per round, one Seed call per seeding", () => {
    const count = fieldRules(GenerateRequestSchema.field.count)!;
    assert.ok(FORTUNA_POOLS >= count.min! && FORTUNA_POOLS <= count.max!, `GenerateRequest.count ${count.min}..${count.max}`);
    const seeds = fieldRules(SeedRequestSchema.field.seeds)!;
    assert.ok(SEED_SAMPLES <= seeds.maxItems!, `SeedRequest.seeds at most ${seeds.maxItems}`);
    assert.ok(SAMPLE_BYTES <= seeds.maxLen!);
  });
});

describe("each seeding", () => {
  test("sends SEED_SAMPLES fresh samples from SEED_ROUNDS Generate calls, new ones every time", async () => {
    const dir = tempDir("seeder");
    cleanups.push(() => dir.remove());
    const controller = await new FakeController().start();
    cleanups.push(() => controller.server.close());
    const fortuna = await new FakeFortuna().start();
    cleanups.push(() => fortuna.server.close());
    const engine = await openGatewayEngine(testConfig(join(dir.path, "db"), controller.addr, [fortuna.addr], { reseedIntervalMs: 200 }), silentLogger);
    cleanups.push(() => engine.close());

    await until("three seedings", () => fortuna.seeds.length >= 3);
    const sent = fortuna.seeds.slice(0, 3);
    for (const [i, seeds] of sent.entries()) {
      assert.equal(seeds.length, SEED_SAMPLES, `seeding ${i}`);
      // All of them from Generate (never the queue's stream), each 32 bytes.
      assert.ok(seeds.every((s) => s.length === 2 * SAMPLE_BYTES && s.startsWith(SEED_MARK.toString(16)) && controller.generated.includes(s)));
    }
    assert.equal(new Set(sent.flat()).size, 3 * SEED_SAMPLES, "no sample is sent twice");
    // Generate calls run ahead of Seed calls by at most one seeding's worth.
    assert.ok(controller.generateCalls >= 3 * SEED_ROUNDS && controller.generated.length === controller.generateCalls * FORTUNA_POOLS);
  });
});
