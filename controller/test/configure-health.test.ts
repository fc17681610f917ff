import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createLogger } from "../../runtime/src/index.js";
import { VirtualClock } from "../src/atecc608a/clock.js";
import { configureDevice, writableConfigWords } from "../src/atecc608a/configure.js";
import { Atecc608a } from "../src/atecc608a/driver.js";
import { Atecc608aEmulator } from "../src/atecc608a/emulator.js";
import { UNLOCKED_TEST_PATTERN } from "../src/atecc608a/protocol.js";
import { TLS_CONFIG_TEMPLATE } from "../src/atecc608a/tls-template.js";
import { RAW_BYTES_PER_SAMPLE } from "../src/conditioning.js";
import { HealthGate } from "../src/health-gate.js";
import { adaptiveProportionCutoff, ContinuousHealthTests, critBinom, repetitionCountCutoff, STARTUP_SAMPLES } from "../src/health-tests.js";

function capture() {
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger("test", { level: "debug", write: (l) => lines.push(JSON.parse(l)) });
  return { log, lines };
}

function chipPair(configured = false) {
  const clock = new VirtualClock();
  const emu = new Atecc608aEmulator({ timing: "datasheet", clock, configured });
  return { emu, chip: new Atecc608a(emu, { clock }) };
}

describe("one-time configuration", () => {
  test("an unlocked chip without FORCE_CONFIG is refused and left untouched", async () => {
    const { emu, chip } = chipPair();
    const before = emu.config.slice();
    const { log, lines } = capture();
    assert.equal(await configureDevice(chip, { force: false, log }), "refused");
    assert.deepEqual(emu.config, before);
    assert.equal(emu.state, "idle");
    assert.ok(lines.some((l) => l.level === "warn" && /FORCE_CONFIG/.test(l.msg)));
  });

  test("with FORCE_CONFIG: template written word by word (read-only words skipped), locked with CRC, verified, logged", async () => {
    const { emu, chip } = chipPair();
    const factory = emu.config.slice();
    const { log, lines } = capture();
    assert.equal(await configureDevice(chip, { force: true, log }), "configured");
    assert.deepEqual(emu.config.subarray(0, 16), factory.subarray(0, 16), "bytes 0..15 untouched");
    for (const w of writableConfigWords()) assert.deepEqual(emu.config.subarray(w * 4, w * 4 + 4), TLS_CONFIG_TEMPLATE.subarray(w * 4, w * 4 + 4));
    assert.equal(emu.config[87], 0x00, "config zone locked");
    assert.equal(emu.config[86], 0x55, "data zone left unlocked");
    assert.equal(writableConfigWords().length, 27);
    assert.equal(lines.filter((l) => /wrote config word/.test(l.msg)).length, 27);
    assert.ok(lines.some((l) => /lock state after locking/.test(l.msg)));
    assert.equal(emu.stats.watchdogSleeps, 0, "the long write sequence re-wakes before the watchdog");
  });

  test("an already locked chip is left alone even when forced", async () => {
    const { emu, chip } = chipPair(true);
    const before = emu.config.slice();
    assert.equal(await configureDevice(chip, { force: true, log: capture().log }), "already-locked");
    assert.deepEqual(emu.config, before);
  });
});

describe("SP 800-90B continuous health tests", () => {
  test("cutoffs follow the §4.4 formulas (the standard's own examples)", () => {
    assert.equal(repetitionCountCutoff(1, 40), 41);
    assert.equal(repetitionCountCutoff(8, 40), 6);
    assert.equal(adaptiveProportionCutoff(512, 8, 20), 13);
    assert.equal(1 + critBinom(1024, 0.5, 20), 589);
    assert.equal(adaptiveProportionCutoff(512, 8, 40), 19);
  });

  test("random data passes after start-up testing; start-up samples are not released", () => {
    const gate = new HealthGate<number>();
    const released: number[] = [];
    const items = 2000;
    for (let i = 0; i < items; i++) released.push(...gate.add(randomBytes(RAW_BYTES_PER_SAMPLE), i));
    const startupItems = STARTUP_SAMPLES / RAW_BYTES_PER_SAMPLE;
    // In order, none of start-up's, and all the rest but the two windows still held.
    assert.equal(released[0], startupItems);
    assert.ok(released.every((v, i) => i === 0 || v === released[i - 1] + 1));
    assert.ok(released.at(-1)! >= items - 2 * (512 / RAW_BYTES_PER_SAMPLE));
    const s = gate.snapshot();
    assert.equal(s.repetitionCountFailures + s.adaptiveProportionFailures + s.monobitFailures, 0n);
    assert.equal(s.startupTestsPassed, 1n);
  });

  test("stuck raw data trips the RCT, although its SHA-256 would sail through", () => {
    const stuck = new Uint8Array(32).fill(0x5a);
    const raw = new ContinuousHealthTests();
    for (let i = 0; i < 40; i++) assert.equal(raw.check(randomBytes(32)), undefined);
    assert.match(raw.check(stuck) ?? "", /repetition count/);
    assert.ok(raw.repetitionCountFailures > 0n);
    // The same bytes after conditioning: the hash varies only if the input does, so feed counters.
    const conditioned = new ContinuousHealthTests();
    let ok = 0;
    for (let i = 0; i < 80; i++) ok += conditioned.check(createHash("sha256").update(stuck).update(Uint32Array.of(i)).digest()) === undefined ? 1 : 0;
    assert.ok(ok > 0, "hashing hides the fault; that is why tests run on raw bytes");
  });

  test("biased raw data and the unlocked test pattern trip the APT", () => {
    // Deterministic bias (each bit set with p = 0.85, drawn from SHAKE256 of a counter), over
    // 25 APT windows: a window trips only when its reference byte is a common one (p ≈ 0.65),
    // so a couple of windows of random bias were not enough and the test flaked.
    const biased = new ContinuousHealthTests();
    for (let i = 0; i < 400; i++) {
      const s = new Uint8Array(32);
      const u = createHash("shake256", { outputLength: 256 }).update(`bias ${i}`).digest();
      for (let j = 0; j < 32; j++) for (let b = 0; b < 8; b++) if (u[j * 8 + b] < 0.85 * 256) s[j] |= 1 << b;
      biased.check(s);
    }
    assert.ok(biased.adaptiveProportionFailures > 0n);
    const pattern = new ContinuousHealthTests();
    for (let i = 0; i < 4; i++) pattern.check(UNLOCKED_TEST_PATTERN);
    assert.ok(pattern.adaptiveProportionFailures > 0n);
  });

  test("after a failure, output resumes only once 1024 fresh bytes passed start-up testing", () => {
    const gate = new HealthGate<number>();
    let n = 0;
    while (!gate.passing) gate.add(randomBytes(RAW_BYTES_PER_SAMPLE), n++);
    assert.equal(n * RAW_BYTES_PER_SAMPLE, STARTUP_SAMPLES);
    gate.add(new Uint8Array(RAW_BYTES_PER_SAMPLE), -1);
    assert.equal(gate.passing, false);
    assert.match(gate.snapshot().reason, /^repetition count test: .*; start-up testing after a failure: 0 of 1024 bytes passed$/);
    let fresh = 0;
    while (!gate.passing) assert.deepEqual(gate.add(randomBytes(RAW_BYTES_PER_SAMPLE), fresh++), []);
    assert.equal(fresh * RAW_BYTES_PER_SAMPLE, STARTUP_SAMPLES);
    assert.equal(gate.snapshot().reason, "");
    assert.equal(gate.snapshot().startupTestsPassed, 2n);
  });
});
