// The monobit test's numbers, the entropy claim's arithmetic, and the gate's
// release rule, fed crafted (deterministic) byte sequences.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { RANDOM_SIZE } from "../src/atecc608a/protocol.js";
import { CREDITED_ENTROPY_PER_BYTE, entropyClaim, RANDOM_OUTPUTS_PER_SAMPLE, RAW_BYTES_PER_SAMPLE, SAMPLE_BYTES } from "../src/conditioning.js";
import { HealthGate } from "../src/health-gate.js";
import { STARTUP_SAMPLES } from "../src/health-tests.js";
import { MONOBIT_WINDOW_BITS, monobitBounds, monobitMissProbability } from "../src/monobit-test.js";

const WINDOW_BYTES = MONOBIT_WINDOW_BITS / 8;
const ITEMS_PER_WINDOW = WINDOW_BYTES / RAW_BYTES_PER_SAMPLE;

/** Deterministic bytes whose bits are 1 with probability p (16-bit uniforms from SHAKE256 of a label). */
function biasedBytes(p: number, n: number, label: string): Uint8Array {
  const u = createHash("shake256", { outputLength: n * 16 }).update(label).digest();
  const out = new Uint8Array(n);
  for (let i = 0; i < n * 8; i++) if (u.readUInt16BE(i * 2) < p * 65536) out[i >> 3] |= 1 << (i & 7);
  return out;
}
const fairBytes = (n: number, label: string) => new Uint8Array(createHash("shake256", { outputLength: n }).update(label).digest());

describe("entropy claim", () => {
  test("two Random outputs per sample: 64 bytes credited at 5 bits/byte carry 256 + 64 bits", () => {
    assert.equal(RANDOM_OUTPUTS_PER_SAMPLE, 2);
    assert.equal(RAW_BYTES_PER_SAMPLE, 64);
    const chip = entropyClaim(EntropySource.ATECC608A);
    assert.equal(chip.creditedInputBits, 320);
    assert.ok(chip.creditedInputBits >= SAMPLE_BYTES * 8 + 64);
    // One output would fall short even at a full 8 bits/byte.
    assert.ok(RANDOM_SIZE * 8 < SAMPLE_BYTES * 8 + 64);
    assert.ok(RANDOM_SIZE * CREDITED_ENTROPY_PER_BYTE < SAMPLE_BYTES * 8 + 64);
    assert.match(chip.text, /^full entropy: .*320 bits >= 256 \+ 64/);
  });

  test("only the chip is credited; the emulator and the OS fallback say so", () => {
    assert.deepEqual(entropyClaim(EntropySource.EMULATOR).creditedInputBits, 0);
    assert.match(entropyClaim(EntropySource.EMULATOR).text, /^none: the ATECC608A emulator/);
    assert.deepEqual(entropyClaim(EntropySource.OS).creditedInputBits, 0);
    assert.match(entropyClaim(EntropySource.OS).text, /^none: the operating system's CSPRNG \(fallback, not a hardware noise source/);
  });
});

describe("monobit test", () => {
  test("window of 4096 bits accepts 1852..2244 ones: false alarm 2^-30.2 per window", () => {
    const b = monobitBounds();
    assert.deepEqual([b.minOnes, b.maxOnes], [1852, 2244]);
    assert.ok(b.falseAlarm <= 2 ** -30, `false alarm ${b.falseAlarm}`);
    assert.ok(b.falseAlarm > 2 ** -30.3, "the cutoffs are not needlessly loose");
  });

  test("a bias of 0.6, 0.75, 0.9 (or 0.4) escapes one whole window with probability at most 2^-37", () => {
    assert.ok(monobitMissProbability(0.6) <= 2 ** -37);
    assert.ok(monobitMissProbability(0.4) <= 2 ** -37);
    assert.ok(monobitMissProbability(0.75) <= 2 ** -500);
    assert.ok(monobitMissProbability(0.9) <= 2 ** -1000);
    // The bias at which a byte falls to the credited 5 bits: p = 2^(-5/8) ≈ 0.648.
    assert.ok(monobitMissProbability(2 ** (-CREDITED_ENTROPY_PER_BYTE / 8)) <= 2 ** -131);
    // For scale: a fair window passes with probability 1 − 2^-30.2.
    assert.ok(monobitMissProbability(0.5) > 1 - 2 ** -30);
  });
});

describe("health gate", () => {
  /** Runs a gate through start-up and two clean windows, so it is releasing. */
  function releasingGate(label: string) {
    const gate = new HealthGate<{ bad: boolean }>();
    const released: { bad: boolean }[] = [];
    let i = 0;
    while (!gate.passing) released.push(...gate.add(fairBytes(RAW_BYTES_PER_SAMPLE, `${label} ${i++}`), { bad: false }));
    assert.equal(i * RAW_BYTES_PER_SAMPLE, STARTUP_SAMPLES);
    assert.equal(released.length, 0, "start-up samples are test samples only");
    for (let w = 0; w < 2 * ITEMS_PER_WINDOW; w++) released.push(...gate.add(fairBytes(RAW_BYTES_PER_SAMPLE, `${label} ${i++}`), { bad: false }));
    assert.equal(released.length, ITEMS_PER_WINDOW, "a window's samples leave once the next window passed");
    return { gate, released };
  }

  for (const p of [0.6, 0.75, 0.9, 0.4]) {
    test(`bias ${p} starting anywhere in a window: tripped within 1 KiB of it, and no sample made from it released`, () => {
      for (let offset = 0; offset < ITEMS_PER_WINDOW; offset++) {
        const label = `bias ${p} offset ${offset}`;
        const { gate, released } = releasingGate(label);
        const clean = released.length;
        for (let k = 0; k < offset; k++) released.push(...gate.add(fairBytes(RAW_BYTES_PER_SAMPLE, `${label} pre ${k}`), { bad: false }));
        let biased = 0;
        while (gate.passing) {
          released.push(...gate.add(biasedBytes(p, RAW_BYTES_PER_SAMPLE, `${label} ${biased}`), { bad: true }));
          biased += RAW_BYTES_PER_SAMPLE;
        }
        assert.ok(biased <= 2 * WINDOW_BYTES - offset * RAW_BYTES_PER_SAMPLE, `${label}: ${biased} biased bytes before the trip`);
        assert.equal(released.filter((r) => r.bad).length, 0, label);
        assert.ok(released.length >= clean, label);
        const s = gate.snapshot();
        assert.match(s.reason, /test: .*; start-up testing after a failure: 0 of 1024 bytes passed$/);
        if (p === 0.6 || p === 0.4) assert.equal(s.monobitFailures, 1n, `${label}: the RCT and APT do not see this bias`);
        assert.ok(s.samplesDiscarded > 0n);
      }
    });
  }

  test("64 KiB of fair bytes never trip, and all but start-up's and the last window's samples are released", () => {
    const gate = new HealthGate<number>();
    const items = (64 * 1024) / RAW_BYTES_PER_SAMPLE;
    let out = 0;
    for (let i = 0; i < items; i++) out += gate.add(randomBytes(RAW_BYTES_PER_SAMPLE), i).length;
    const s = gate.snapshot();
    assert.equal(s.repetitionCountFailures + s.adaptiveProportionFailures + s.monobitFailures, 0n);
    // The input ends on a window boundary: that window's samples wait for the next one.
    assert.equal(out, items - STARTUP_SAMPLES / RAW_BYTES_PER_SAMPLE - ITEMS_PER_WINDOW);
  });

  test("a restart (the device recovered) drops held samples and runs start-up testing again", () => {
    const { gate } = releasingGate("restart");
    for (let k = 0; k < 3; k++) gate.add(fairBytes(RAW_BYTES_PER_SAMPLE, `restart held ${k}`), { bad: true });
    const before = gate.snapshot().samplesDiscarded;
    gate.restart("after the device recovered from a failure");
    assert.equal(gate.passing, false);
    // The last window's 8 samples and the open window's 3.
    assert.equal(gate.snapshot().samplesDiscarded - before, BigInt(ITEMS_PER_WINDOW + 3));
    assert.equal(gate.snapshot().reason, "start-up testing after the device recovered from a failure: 0 of 1024 bytes passed");
    const out: { bad: boolean }[] = [];
    for (let k = 0; k < STARTUP_SAMPLES / RAW_BYTES_PER_SAMPLE; k++) out.push(...gate.add(fairBytes(RAW_BYTES_PER_SAMPLE, `after ${k}`), { bad: true }));
    assert.equal(gate.passing, true);
    assert.equal(out.length, 0);
    assert.equal(gate.snapshot().startupTestsPassed, 2n);
  });
});
