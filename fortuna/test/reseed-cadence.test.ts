// Issue 12, item 4: the gateway fed 5 samples every 30 s, and Fortuna reseeded
// only about every 6.5 minutes, because a source's events reach P0 once per
// round of the 32 pools (9.5.6) and a reseed waits for 64 bytes there (9.5.5).
// These tests play the gateway's seeding pattern (its SEED_SAMPLES, from one
// seeder) against a real server, through the Seed and GetInfo RPCs only, on
// the harness's hand-moved clocks.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { SAMPLE_BYTES, SEED_SAMPLES } from "../../gateway/src/engine/seeder.js";
import { Accumulator, MIN_POOL_SIZE, RESEED_INTERVAL_MS } from "../src/accumulator.js";
import { POOL_COUNT } from "../src/pools.js";
import { atSecond, fakeClock, startHarness, type Harness } from "./harness.js";

/** One seeding as the gateway sends it: SEED_SAMPLES fresh samples of 32 bytes. */
const gatewaySeeding = () => Array.from({ length: SEED_SAMPLES }, () => randomBytes(SAMPLE_BYTES));
const reseeds = async (h: Harness) => (await h.grpc.getInfo({})).reseedCount;

describe("reseed cadence with the gateway's seeding pattern", () => {
  // The gateway's default interval, and its shortest (FORTUNA_RESEED_INTERVAL_MS >= 100, Fortuna's spacing rule).
  for (const intervalMs of [30_000, RESEED_INTERVAL_MS]) {
    test(`every ${intervalMs} ms interval reseeds, in the Seed call itself, for 8 intervals`, async () => {
      const h = await startHarness();
      try {
        assert.equal((await h.grpc.seed({ seeds: gatewaySeeding() })).status, "reseeded", "the first seed");
        let before = await reseeds(h);
        for (let i = 1; i <= 8; i++) {
          h.clock.advance(intervalMs);
          const res = await h.grpc.seed({ seeds: gatewaySeeding() });
          assert.deepEqual([res.status, res.reseeded], ["reseeded", true], `interval ${i}`);
          const after = await reseeds(h);
          assert.equal(after, before + 1n, `interval ${i}: reseed_count rose`);
          before = after;
        }
        // Pool reseeds, with no request for random data to trigger them.
        const s = h.fortuna.accumulator.stats();
        assert.equal(s.poolReseedCount, 8n);
        assert.equal(s.requestsServed, 0n);
      } finally {
        await h.close();
      }
    });
  }

  test("the original design's 5 samples per interval left most intervals without a reseed", async () => {
    const h = await startHarness();
    try {
      const five = () => Array.from({ length: 5 }, () => randomBytes(SAMPLE_BYTES));
      await h.grpc.seed({ seeds: five() });
      const before = await reseeds(h);
      let reseeded = 0;
      for (let i = 0; i < 26; i++) {
        h.clock.advance(30_000);
        if ((await h.grpc.seed({ seeds: five() })).reseeded) reseeded++;
      }
      // P0 gets one of every 32 events and needs two: one reseed per 12.8 intervals.
      assert.equal(reseeded, 2);
      assert.equal((await reseeds(h)) - before, 2n);
    } finally {
      await h.close();
    }
  });

  test("SEED_SAMPLES is the least that reseeds every interval from any pool the source's turn stands at", () => {
    assert.equal(SEED_SAMPLES, POOL_COUNT * Math.ceil(MIN_POOL_SIZE / SAMPLE_BYTES));
    const intervalsWithout = (samples: number) => {
      const clock = fakeClock();
      const acc = new Accumulator(clock);
      acc.seedDirect(randomBytes(64));
      let missed = 0;
      // POOL_COUNT intervals bring the source's turn to every pool at an interval's start.
      for (let i = 0; i < 2 * POOL_COUNT; i++) {
        clock.advance(RESEED_INTERVAL_MS);
        for (let j = 0; j < samples; j++) acc.addSeed(0, randomBytes(SAMPLE_BYTES));
        if (!acc.maybeReseed()) missed++;
      }
      return missed;
    };
    assert.equal(intervalsWithout(SEED_SAMPLES), 0);
    assert.ok(intervalsWithout(SEED_SAMPLES - 1) > 0);
  });
});

describe("the clocks: monotonic for the rules, wall for display", () => {
  test("a wall clock stepped back does not hold off reseeds, nor does one stepped forward age the seed", async () => {
    const h = await startHarness({ maxSeedAgeMs: 60_000 });
    try {
      await h.grpc.seed({ seeds: gatewaySeeding() });
      h.clock.advance(30_000);
      assert.equal((await h.grpc.seed({ seeds: gatewaySeeding() })).reseeded, true);
      // An hour back (NTP, an operator): on the wall clock the last reseed is now in the future.
      h.clock.stepWall(-3_600_000);
      h.clock.advance(RESEED_INTERVAL_MS);
      const before = await reseeds(h);
      assert.equal((await h.grpc.seed({ seeds: gatewaySeeding() })).reseeded, true);
      assert.equal(await reseeds(h), before + 1n);
      // last_reseed shows the wall clock as it now reads.
      assert.equal((await h.grpc.getInfo({})).lastReseed, atSecond(h.clock.wall()));
      // Two days forward on the wall clock alone: the seed is no older, health stays SERVING.
      h.clock.stepWall(2 * 86_400_000);
      const health = await h.grpc.getHealth({});
      assert.deepEqual([health.status, health.reason], ["healthy", ""]);
      assert.equal(health.timestamp, atSecond(h.clock.wall()));
      assert.equal(h.fortuna.health.get(""), Status.SERVING);
      // Time that really passes does age it.
      h.clock.advance(60_001);
      assert.equal((await h.grpc.getHealth({})).status, "unhealthy");
      assert.equal(h.fortuna.health.get(""), Status.NOT_SERVING);
    } finally {
      await h.close();
    }
  });

  test("the 100 ms rule counts monotonic time: a wall step forward does not allow an early reseed", async () => {
    const h = await startHarness();
    try {
      await h.grpc.seed({ seeds: gatewaySeeding() });
      h.clock.stepWall(3_600_000);
      h.clock.advance(RESEED_INTERVAL_MS - 1);
      assert.equal((await h.grpc.seed({ seeds: gatewaySeeding() })).reseeded, false);
      h.clock.advance(1);
      // P0 is still full from the refused call: this one reseeds.
      assert.equal((await h.grpc.seed({ seeds: gatewaySeeding() })).reseeded, true);
    } finally {
      await h.close();
    }
  });
});
