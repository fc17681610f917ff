// A biased chip, end to end: emulator (fault option `bias`) → driver → harvester →
// ControllerService on a real port. Counts the samples conditioned from biased
// output that StreamSamples hands out before the failure trips (the documented
// bound is 0), checks that health and the test counters report the failure, and
// that output resumes only after start-up testing passes again. Also: a device
// that disappears and comes back passes start-up testing before its output is
// used, and fair sources (emulator, OS CSPRNG) do not trip in 64 KiB.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ControllerService, EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { createGrpcClient, silentLogger } from "../../runtime/src/index.js";
import { Atecc608a } from "../src/atecc608a/driver.js";
import { Atecc608aEmulator } from "../src/atecc608a/emulator.js";
import { RANDOM_SIZE } from "../src/atecc608a/protocol.js";
import { RANDOM_OUTPUTS_PER_SAMPLE } from "../src/conditioning.js";
import { Harvester, type HarvesterStatus, type Sample } from "../src/harvester.js";
import { STARTUP_SAMPLES } from "../src/health-tests.js";
import { MONOBIT_WINDOW_BITS } from "../src/monobit-test.js";
import { fastClock, getJson, startRig, until, type Rig } from "./rig.js";
import { ChipSource, OsSource, type RawSource } from "../src/sources.js";

const WINDOW_BYTES = MONOBIT_WINDOW_BITS / 8;
/** Random outputs per monobit window (16). */
const WINDOW_READS = WINDOW_BYTES / RANDOM_SIZE;
/** The documented bound: samples conditioned from biased output that may be handed out. */
const MAX_BAD_SAMPLES = 0;
/** The documented detection bound: biased bytes read before the failure trips. */
const MAX_BIASED_BYTES = 2 * WINDOW_BYTES;

const rig = () => startRig({ fastHarvester: true });

async function untilWindowOffset(emu: Atecc608aEmulator, offset: number): Promise<void> {
  for (let turns = 0; turns < 1_000_000; turns++) {
    if (emu.stats.randoms % WINDOW_READS === offset) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`never reached window offset ${offset}`);
}

// Offset 15: only the window's last output is biased, so that window passes and the
// next, wholly biased one must catch it before the first window's samples leave.
for (const bias of [0.6, 0.75, 0.9]) for (const offset of [15, 8, 1]) {
  describe(`emulated chip with bias ${bias}, from output ${offset} of a window`, () => {
    let r: Rig;
    before(async () => {
      r = await rig();
      await until(() => r.harvester.status().serving, "serving after start-up tests");
    });
    after(() => r.close());

    test(`no sample made from biased output reaches StreamSamples (bound ${MAX_BAD_SAMPLES}); health and counters report it; start-up testing before output resumes`, async () => {
      const client = createGrpcClient(ControllerService, `127.0.0.1:${r.server.port}`);
      const grpcHealth = createClient(Health, createConnectTransport({ baseUrl: r.base, httpVersion: "1.1" }));
      const stop = new AbortController();
      const got: bigint[] = [];
      const reading = (async () => {
        try {
          for await (const s of client.streamSamples({}, { signal: stop.signal })) got.push(s.sequence);
        } catch {
          /* cancelled */
        }
      })();
      try {
        await until(() => got.length >= 8, "samples flowing");
        const t0 = r.harvester.status().tests;
        let tripped: HarvesterStatus | undefined;
        const off = r.harvester.onChange((s) => (tripped ??= s.serving ? undefined : s));

        // Random outputs from index r0 on are biased: the emulator draws them when it executes the command.
        await untilWindowOffset(r.emu, offset);
        const r0 = BigInt(r.emu.stats.randoms);
        r.emu.faults.bias = bias;
        await until(() => tripped !== undefined, "the failure trips");
        off();
        const biasedBytes = (tripped!.rawReads - r0) * BigInt(RANDOM_SIZE);
        assert.ok(biasedBytes <= MAX_BIASED_BYTES, `${biasedBytes} biased bytes read before the trip`);
        assert.match(tripped!.reason, /^entropy health tests: (monobit|adaptive proportion|repetition count) test: /);
        if (bias === 0.6) assert.match(tripped!.reason, /monobit test: \d+ ones in a window of 4096 bits \(accepted 1852\.\.2244\)/);

        // Reported over GET /health, gRPC health and the counters of GET /info.
        const h = await getJson(`${r.base}/health`);
        assert.equal(h.status, 503);
        assert.match(h.body.reason, /(monobit|adaptive proportion|repetition count) test: /);
        assert.equal(h.body.health_tests.passing, false);
        assert.equal((await grpcHealth.check({ service: "" })).status, Status.NOT_SERVING);
        assert.equal((await grpcHealth.check({ service: ControllerService.typeName })).status, Status.NOT_SERVING);
        const t1 = (await getJson(`${r.base}/info`)).body.health_tests;
        const failures = (t: any) => BigInt(t.monobit_failures) + BigInt(t.adaptive_proportion_failures) + BigInt(t.repetition_count_failures);
        assert.ok(failures(t1) > t0.monobitFailures + t0.adaptiveProportionFailures + t0.repetitionCountFailures);
        if (bias === 0.6) assert.ok(BigInt(t1.monobit_failures) > t0.monobitFailures);
        assert.ok(BigInt(t1.samples_discarded) > t0.samplesDiscarded, "the held samples were dropped");

        // The fault stops; output resumes only after a fresh start-up test.
        const r1 = BigInt(r.emu.stats.randoms);
        r.emu.faults.bias = undefined;
        await until(() => r.harvester.status().serving, "start-up testing passes again");
        assert.ok(r.harvester.status().tests.startupTestsPassed > t0.startupTestsPassed);
        // No pair was cut short, so sample s was conditioned from outputs 2s and 2s + 1.
        const s = r.harvester.status();
        assert.ok(s.rawReads - BigInt(RANDOM_OUTPUTS_PER_SAMPLE) * s.harvested < BigInt(RANDOM_OUTPUTS_PER_SAMPLE));
        const firstBad = r0 / 2n;
        const firstClean = (r1 + 1n) / 2n;
        await until(() => got.some((q) => q >= firstClean), "samples flow again");
        const bad = got.filter((q) => q >= firstBad && q < firstClean);
        assert.ok(bad.length <= MAX_BAD_SAMPLES, `${bad.length} samples made from biased output were handed out: ${bad}`);
        // The bound is not vacuous: samples from within two windows of the switch were handed out.
        const samplesPerWindow = BigInt(WINDOW_READS / RANDOM_OUTPUTS_PER_SAMPLE);
        assert.ok(got.some((q) => q < firstBad && q >= firstBad - 2n * samplesPerWindow), "output flowed right up to the switch");
        assert.equal((await grpcHealth.check({ service: "" })).status, Status.SERVING);
      } finally {
        stop.abort();
        await reading;
        client.close();
      }
    });
  });
}

describe("device recovery", () => {
  let r: Rig;
  before(async () => {
    r = await rig();
    await until(() => r.harvester.status().serving, "serving after start-up tests");
  });
  after(() => r.close());

  test("a chip that disappears and comes back passes start-up testing before its output is used", async () => {
    const stop = new AbortController();
    const got: Sample[] = [];
    const taking = (async () => {
      try {
        for (;;) got.push(await r.harvester.take(stop.signal));
      } catch {
        /* stopped */
      }
    })();
    try {
      await until(() => got.length >= 8, "samples flowing");
      const startups = r.harvester.status().tests.startupTestsPassed;
      r.emu.faults.absent = true;
      await until(() => !r.harvester.status().deviceOk, "device failure noticed");
      // No output is read while the chip is away, so this is where its fresh output begins.
      const resumeAt = r.harvester.status().rawReads;
      const h = await getJson(`${r.base}/health`);
      assert.equal(h.status, 503);
      assert.match(h.body.reason, /^device failing: /);
      r.emu.faults.absent = false;
      await until(() => got.some((s) => s.firstRead >= resumeAt), "samples flow again");
      const startupReads = BigInt(STARTUP_SAMPLES / RANDOM_SIZE);
      const after = got.filter((s) => s.firstRead >= resumeAt);
      assert.ok(after.every((s) => s.firstRead >= resumeAt + startupReads), `first read after recovery: ${after[0].firstRead}, resumed at ${resumeAt}`);
      assert.equal(r.harvester.status().tests.startupTestsPassed, startups + 1n);
    } finally {
      stop.abort();
      await taking;
    }
  });
});

describe("fair sources never trip in 64 KiB", () => {
  async function run(source: RawSource) {
    const harvester = new Harvester(source, { log: silentLogger, bufferSize: 4, clock: fastClock });
    const flips: HarvesterStatus[] = [];
    harvester.onChange((s) => flips.push(s));
    harvester.start();
    const stop = new AbortController();
    let taken = 0;
    try {
      while (harvester.status().rawReads * BigInt(RANDOM_SIZE) < 64n * 1024n) {
        await harvester.take(stop.signal);
        taken++;
      }
    } finally {
      stop.abort();
      await harvester.stop();
    }
    const t = harvester.status().tests;
    assert.equal(t.repetitionCountFailures + t.adaptiveProportionFailures + t.monobitFailures, 0n);
    assert.equal(t.startupTestsPassed, 1n);
    // Not serving (start-up), then serving, and never again not serving.
    assert.deepEqual(flips.map((s) => s.serving), [false, true]);
    assert.ok(taken > 0);
  }

  test("the emulator", async () => {
    const emu = new Atecc608aEmulator({ timing: "fast", configured: true, clock: fastClock });
    const source = new ChipSource(EntropySource.EMULATOR, new Atecc608a(emu, { clock: fastClock }));
    await source.probe();
    await run(source);
  });

  test("the OS CSPRNG fallback", async () => {
    await run(new OsSource(0, fastClock));
  });
});
