// FIPS 140-2 statistical tests (rngtest, Debian's rng-tools5) on Fortuna's
// output as the gateway receives it: over the gRPC stream of a real server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { startHarness, type Harness } from "./harness.js";

// rngtest: one FIPS 140-2 block is 20000 bits (2500 bytes), after 32 bits
// that seed its continuous-run test.
const BLOCK_BYTES = 2500;
const BLOCKS = 4000; // 10 MB, well above the 2.5 MB
// rngtest's documentation: a good source fails about 0.08% of blocks (FIPS 140-2 false alarms).
const FALSE_ALARM_RATE = 0.0008;

const available = spawnSync("rngtest", ["-V"]).error === undefined;

/** Smallest k with P(Poisson(lambda) > k) < p: more failures than this are not bad luck. */
function poissonBound(lambda: number, p: number): number {
  let term = Math.exp(-lambda);
  let cdf = term;
  let k = 0;
  while (1 - cdf >= p) {
    k++;
    term *= lambda / k;
    cdf += term;
  }
  return k;
}

describe("rngtest (FIPS 140-2) on the gRPC stream", { skip: available ? false : "rngtest not installed (apt-get install -y rng-tools5); skipping the FIPS 140-2 check" }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.grpc.seed({ seeds: [randomBytes(32), randomBytes(32)] });
  });
  after(() => h?.close());

  test(`${BLOCKS} blocks: no more failures than the false-alarm rate allows`, async () => {
    const child = spawn("rngtest", ["-c", String(BLOCKS)], { stdio: ["pipe", "ignore", "pipe"] });
    let report = "";
    child.stderr.on("data", (d: Buffer) => (report += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    child.stdin.on("error", () => {}); // rngtest closes its input after the last block
    const need = BLOCKS * BLOCK_BYTES + 4;
    let sent = 0;
    for await (const m of h.grpc.streamRandom({ chunkSize: 65536 })) {
      if (child.stdin.destroyed) break;
      if (!child.stdin.write(m.data)) await new Promise((r) => child.stdin.once("drain", r));
      sent += m.data.length;
      if (sent >= need) break;
    }
    child.stdin.end();
    await exited;
    const num = (label: string) => Number(new RegExp(`${label}: (\\d+)`).exec(report)?.[1] ?? NaN);
    const successes = num("FIPS 140-2 successes");
    const failures = num("FIPS 140-2 failures");
    assert.equal(successes + failures, BLOCKS, report);
    if (process.env.FORTUNA_TEST_VERBOSE) console.log(report);
    const bound = poissonBound(BLOCKS * FALSE_ALARM_RATE, 1e-6);
    assert.ok(failures <= bound, `${failures} failures in ${BLOCKS} blocks, at most ${bound} expected:\n${report}`);
  });

  test("the check can fail: a biased source is caught", async () => {
    const child = spawn("rngtest", ["-c", "100"], { stdio: ["pipe", "ignore", "pipe"] });
    let report = "";
    child.stderr.on("data", (d: Buffer) => (report += d.toString()));
    const exited = new Promise((resolve) => child.on("close", resolve));
    child.stdin.on("error", () => {});
    const biased = randomBytes(100 * BLOCK_BYTES + 4).map((b) => b | 0x01);
    child.stdin.end(biased);
    await exited;
    assert.ok(Number(/FIPS 140-2 failures: (\d+)/.exec(report)?.[1]) > 90, report);
  });
});
