// Issue 12, item 4, on the stack a user runs: under `npm start`, Fortuna is
// reseeded (its key changed, from its pools) at every seeding interval, and
// its public reseed_count shows it. The interval is short here (1 s), so the
// chip's rate rather than the interval sets the pace of seedings: each takes
// 2 KiB of samples. Intervals are counted by seedings, not by the clock:
// Fortuna logs every Seed call at debug level with the reseed count it left,
// and the test reads those lines and Fortuna's /info. Time bounds below are
// liveness bounds only, generous for a loaded 2-core machine.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { SEED_SAMPLES } from "../../gateway/src/engine/seeder.js";
import { startStack, type Stack } from "./npm-start.js";
import { until } from "./poll.js";

const LIVENESS_BOUND_MS = 300_000;
/** Intervals to watch: each must see reseed_count rise. */
const INTERVALS = 5;

interface SeedLine {
  seeder: string;
  count: number;
  reseeded: boolean;
  /** Fortuna's reseed count right after this Seed call (a bigint logged as a string). */
  reseedCount: string;
}

let stack: Stack;

before(async () => {
  stack = await startStack({
    FORTUNA_RESEED_INTERVAL_MS: "1000",
    // Fortuna's "seeded" line, one per Seed call, is a debug line.
    LOG_LEVEL: "debug",
  });
});

after(() => stack.stop());

/** Fortuna's Seed calls so far, from its lines ("fortuna    | {json}"). */
function seedings(): SeedLine[] {
  const out: SeedLine[] = [];
  for (const line of stack.lines) {
    const m = /^fortuna\s*\| (\{.*\})$/.exec(line);
    if (!m) continue;
    const entry = JSON.parse(m[1]) as { msg?: string } & SeedLine;
    if (entry.msg === "seeded") out.push(entry);
  }
  return out;
}

const waitFor = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> =>
  until(what, async () => probe(), LIVENESS_BOUND_MS, () => stack.lines.join("\n"));

/** Fortuna's public /info over HTTPS with the stack's CA, as a client without a certificate. */
function fortunaInfo(): Promise<{ reseed_count: number; seeded: boolean }> {
  const options = { ca: readFileSync(join(stack.certsDir, "ca.crt")), servername: "localhost" };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`https://127.0.0.1:${stack.ports.fortuna}/info`, options, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on("error", reject).end();
  });
}

describe("npm start: Fortuna's reseed cadence", () => {
  test(`reseed_count rises at every seeding interval, ${INTERVALS} intervals in a row`, async () => {
    // The first seed (the key from the samples and Fortuna's own secret), then the intervals.
    await waitFor("the first seed", () => (seedings().length >= 1 ? true : undefined));
    const start = await waitFor("Fortuna seeded on /info", async () => {
      const info = await fortunaInfo();
      return info.seeded ? info.reseed_count : undefined;
    });
    // A seeding's line may still be on its way when /info answers: one more
    // seeding than INTERVALS puts INTERVALS whole ones between the two readings.
    const seen = seedings().length;
    await waitFor(`${INTERVALS + 1} more seedings`, () => (seedings().length >= seen + INTERVALS + 1 ? true : undefined));
    const end = (await fortunaInfo()).reseed_count;

    const [first, ...later] = seedings();
    assert.equal(first.reseeded, true, "the first seed reseeds at once");
    assert.ok(later.length >= INTERVALS + 1);
    let previous = BigInt(first.reseedCount);
    for (const [i, s] of later.entries()) {
      // One seeder, the gateway, through its certificate.
      assert.equal(s.seeder, first.seeder);
      assert.match(s.seeder, /gateway/);
      assert.equal(s.count, SEED_SAMPLES);
      // The Seed call itself reseeded from the pools (9.5.5), no request for data needed.
      assert.equal(s.reseeded, true, `interval ${i + 1}: ${JSON.stringify(s)}`);
      assert.ok(BigInt(s.reseedCount) >= previous + 1n, `interval ${i + 1}: reseed count ${s.reseedCount} after ${previous}`);
      previous = BigInt(s.reseedCount);
    }
    // The public figure agrees: over a window holding at least INTERVALS seedings it rose as often.
    assert.ok(end >= Number(previous), `/info reseed_count ${end}, the last seeding left ${previous}`);
    assert.ok(end - start >= INTERVALS, `/info reseed_count went from ${start} to ${end}`);
  });
});
