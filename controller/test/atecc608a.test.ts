import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { crc16, crc16Value } from "../src/atecc608a/crc.js";
import { VirtualClock } from "../src/atecc608a/clock.js";
import { Atecc608a } from "../src/atecc608a/driver.js";
import { Atecc608aEmulator } from "../src/atecc608a/emulator.js";
import {
  AteccStatusError, ChipHealthTestError, CommunicationError, EccFaultError, ExecutionError, MiscompareError, NoResponseError,
  ParseError, ResponseCountError, ResponseCrcError, SelfTestError, UnexpectedWakeError, UnknownStatusError, WakeError,
  WatchdogExpiringError, statusError,
} from "../src/atecc608a/errors.js";
import { decodeResponse, encodeCommand, encodeResponse } from "../src/atecc608a/packet.js";
import {
  LOCK_CONFIG_NO_CRC, LOCK_CONFIG_WITH_CRC, LOCK_DATA_NO_CRC, OP_RANDOM, UNLOCKED_TEST_PATTERN, WATCHDOG_MS, ZONE_CONFIG,
} from "../src/atecc608a/protocol.js";
import { isNack } from "../src/atecc608a/bus.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function fastPair(opts: ConstructorParameters<typeof Atecc608aEmulator>[0] = {}) {
  const emu = new Atecc608aEmulator({ timing: "fast", ...opts });
  return { emu, chip: new Atecc608a(emu, { clock: opts.clock }) };
}

describe("CRC-16 and packets", () => {
  test("CRC of 04 11 is the wake answer's 33 43, and a one-bit change alters it", () => {
    assert.equal(hex(crc16(Uint8Array.of(0x04, 0x11))), "3343");
    assert.notEqual(hex(crc16(Uint8Array.of(0x04, 0x10))), "3343");
    assert.equal(crc16Value(Uint8Array.of(0x04, 0x11)), 0x4333);
  });

  test("a Random command packet: word address, count 7, opcode, params, CRC over count..param2", () => {
    const p = encodeCommand({ opcode: OP_RANDOM, param1: 0, param2: 0 });
    assert.equal(hex(p.subarray(0, 6)), "03071b000000");
    assert.equal(hex(p.subarray(6)), hex(crc16(p.subarray(1, 6))));
  });

  test("response decoding checks count and CRC and maps statuses", () => {
    assert.equal(hex(decodeResponse(encodeResponse(Uint8Array.of(1, 2, 3, 4)), 0x30, 4)), "01020304");
    const bad = encodeResponse(Uint8Array.of(1, 2, 3, 4));
    bad[bad.length - 1] ^= 1;
    assert.throws(() => decodeResponse(bad, 0x30, 4), ResponseCrcError);
    assert.throws(() => decodeResponse(encodeResponse(Uint8Array.of(1, 2)), 0x30, 4), ResponseCountError);
    assert.throws(() => decodeResponse(encodeResponse(Uint8Array.of(0x0f)), 0x12, 1), ExecutionError);
  });

  test("every status code has its own error type", () => {
    const cases: [number, Function][] = [
      [0x01, MiscompareError], [0x03, ParseError], [0x05, EccFaultError], [0x07, SelfTestError], [0x08, ChipHealthTestError],
      [0x0f, ExecutionError], [0x11, UnexpectedWakeError], [0xee, WatchdogExpiringError], [0xff, CommunicationError], [0x42, UnknownStatusError],
    ];
    for (const [status, type] of cases) {
      const e = statusError(status, 0x1b);
      assert.ok(e instanceof type, `0x${status.toString(16)} -> ${e.name}`);
      assert.ok(e instanceof AteccStatusError);
      assert.equal(e.status, status);
    }
  });
});

describe("emulator protocol, byte for byte", () => {
  test("asleep until the wake pulse; the general-call write fails; then 04 11 33 43", async () => {
    const emu = new Atecc608aEmulator({ timing: "fast" });
    const buf = Buffer.alloc(4);
    await assert.rejects(emu.i2cRead(0x60, 4, buf), (e) => isNack(e));
    await assert.rejects(emu.i2cWrite(0x00, 1, Buffer.from([0x01])), (e: NodeJS.ErrnoException) => e.code === "EREMOTEIO");
    await emu.i2cRead(0x60, 4, buf);
    assert.equal(hex(buf), "04113343");
  });

  test("at 400 kHz the general-call address is too short a low pulse (< tWLO) and the chip stays asleep", async () => {
    const { emu, chip } = fastPair({ clockHz: 400_000 });
    await assert.rejects(chip.wake(), NoResponseError);
    assert.equal(emu.state, "sleep");
  });

  test("a command with a bad CRC is answered with status 0xFF", async () => {
    const emu = new Atecc608aEmulator({ timing: "fast" });
    await emu.i2cWrite(0, 1, Buffer.from([0x01])).catch(() => undefined);
    await emu.i2cRead(0x60, 4, Buffer.alloc(4));
    const packet = Buffer.from(encodeCommand({ opcode: OP_RANDOM, param1: 0, param2: 0 }));
    packet[packet.length - 1] ^= 0xff;
    await emu.i2cWrite(0x60, packet.length, packet);
    const out = Buffer.alloc(4);
    await emu.i2cRead(0x60, 4, out);
    assert.throws(() => decodeResponse(out, OP_RANDOM, 32), CommunicationError);
    assert.equal(emu.stats.badCrcCommands, 1);
  });

  test("NACKs while a command executes, for its execution time", async () => {
    const clock = new VirtualClock();
    const emu = new Atecc608aEmulator({ timing: "datasheet", clock, configured: true });
    await emu.i2cWrite(0, 1, Buffer.from([0x01])).catch(() => undefined);
    clock.advance(1.5);
    await emu.i2cRead(0x60, 4, Buffer.alloc(4));
    const packet = Buffer.from(encodeCommand({ opcode: OP_RANDOM, param1: 0, param2: 0 }));
    await emu.i2cWrite(0x60, packet.length, packet);
    const out = Buffer.alloc(35);
    clock.advance(22.9);
    await assert.rejects(emu.i2cRead(0x60, 35, out), (e) => isNack(e));
    clock.advance(0.1);
    await emu.i2cRead(0x60, 35, out);
    assert.equal(decodeResponse(out, OP_RANDOM, 32).length, 32);
  });

  test("a command that would outlive the watchdog is answered 0xEE; then the chip falls asleep", async () => {
    const clock = new VirtualClock();
    const emu = new Atecc608aEmulator({ timing: "datasheet", clock, configured: true });
    await emu.i2cWrite(0, 1, Buffer.from([0x01])).catch(() => undefined);
    clock.advance(WATCHDOG_MS - 10);
    const packet = Buffer.from(encodeCommand({ opcode: OP_RANDOM, param1: 0, param2: 0 }));
    await emu.i2cWrite(0x60, packet.length, packet);
    const out = Buffer.alloc(35);
    await emu.i2cRead(0x60, 35, out);
    assert.throws(() => decodeResponse(out, OP_RANDOM, 32), WatchdogExpiringError);
    clock.advance(20);
    assert.equal(emu.state, "sleep");
    assert.equal(emu.stats.watchdogSleeps, 1);
  });
});

describe("driver against the emulator", () => {
  test("Info revision, serial number, config zone and lock state", async () => {
    const { emu, chip } = fastPair();
    await chip.session(async () => {
      assert.equal(hex(await chip.revision()), "00006002");
      const config = await chip.readConfigZone();
      assert.deepEqual(config, emu.config);
      assert.deepEqual(await chip.lockState(), { configLocked: false, dataLocked: false });
      assert.equal(hex(await chip.read(ZONE_CONFIG, 0, 4)), hex(emu.config.subarray(0, 4)));
    });
    assert.equal(emu.state, "idle", "a session ends with the chip idle");
  });

  test("Random: the FF FF 00 00 test pattern while unlocked, 32 varying bytes once locked", async () => {
    const { chip } = fastPair();
    assert.deepEqual(await chip.random(), UNLOCKED_TEST_PATTERN);
    const locked = fastPair({ configured: true }).chip;
    const a = await locked.random();
    const b = await locked.random();
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a, UNLOCKED_TEST_PATTERN);
  });

  test("Write refuses read-only words and the lock word; Lock checks the summary CRC and is final", async () => {
    const { emu, chip } = fastPair();
    await assert.rejects(chip.write(ZONE_CONFIG, 0, Uint8Array.of(1, 2, 3, 4)), ExecutionError);
    await assert.rejects(chip.write(ZONE_CONFIG, 0x15, Uint8Array.of(0, 0, 0, 0)), ExecutionError);
    await chip.write(ZONE_CONFIG, 5, Uint8Array.of(9, 8, 7, 6));
    assert.equal(hex(emu.config.subarray(20, 24)), "09080706");
    await assert.rejects(chip.lock(LOCK_DATA_NO_CRC), ExecutionError, "data zone before config zone");
    await assert.rejects(chip.lock(LOCK_CONFIG_WITH_CRC, crc16Value(emu.config) ^ 1), ExecutionError);
    await chip.lock(LOCK_CONFIG_WITH_CRC, crc16Value(emu.config));
    assert.deepEqual(await chip.lockState(), { configLocked: true, dataLocked: false });
    await assert.rejects(chip.lock(LOCK_CONFIG_NO_CRC), ExecutionError);
    await assert.rejects(chip.write(ZONE_CONFIG, 5, Uint8Array.of(0, 0, 0, 0)), ExecutionError);
  });

  test("waits each command's maximum execution time, so the first poll already finds the answer", async () => {
    const clock = new VirtualClock();
    const emu = new Atecc608aEmulator({ timing: "datasheet", clock, configured: true });
    const chip = new Atecc608a(emu, { clock });
    for (let i = 0; i < 5; i++) assert.equal((await chip.random()).length, 32);
    assert.equal(emu.stats.randoms, 5);
    // Only the idle sent before the first wake (chip asleep) went unacknowledged.
    assert.equal(emu.stats.nacks, 1 + 1);
  });

  test("keeps the chip awake across commands and re-wakes before the watchdog", async () => {
    const clock = new VirtualClock();
    const emu = new Atecc608aEmulator({ timing: "datasheet", clock, configured: true });
    const chip = new Atecc608a(emu, { clock });
    const start = clock.now();
    while (clock.now() - start < 5 * WATCHDOG_MS) await chip.random();
    assert.equal(emu.stats.watchdogSleeps, 0);
    assert.ok(emu.stats.wakes >= 5 && emu.stats.wakes <= 7, `wakes ${emu.stats.wakes}`);
  });

  test("after the watchdog put the chip to sleep, the next command wakes it again", async () => {
    const clock = new VirtualClock();
    const emu = new Atecc608aEmulator({ timing: "datasheet", clock, configured: true });
    const chip = new Atecc608a(emu, { clock });
    await chip.wake();
    clock.advance(WATCHDOG_MS + 100);
    assert.equal(emu.state, "sleep");
    assert.equal((await chip.random()).length, 32);
    assert.equal(emu.stats.wakes, 2);
  });

  test("fault: stuck output", async () => {
    const { chip } = fastPair({ configured: true, faults: { stuck: 0x5a } });
    assert.equal(hex(await chip.random()), "5a".repeat(32));
  });

  test("fault: biased output", async () => {
    const { chip } = fastPair({ configured: true, faults: { bias: 0.9 } });
    let ones = 0;
    for (let i = 0; i < 8; i++) for (const b of await chip.random()) for (let k = 0; k < 8; k++) ones += (b >> k) & 1;
    assert.ok(ones / (8 * 256) > 0.8, `share of ones ${ones / 2048}`);
  });

  test("fault: a corrupted response CRC is retried; a persistent one fails with ResponseCrcError", async () => {
    const { emu, chip } = fastPair({ configured: true, faults: { corruptCrc: 1 } });
    assert.equal((await chip.random()).length, 32);
    assert.equal(emu.stats.randoms, 2, "the corrupted answer was re-requested");
    emu.faults.corruptCrc = true;
    await assert.rejects(chip.random(), ResponseCrcError);
    emu.faults.corruptCrc = false;
    assert.equal((await chip.random()).length, 32, "recovers when the fault clears");
  });

  test("fault: absent chip gives NoResponseError after bounded polling, and recovery when it answers again", async () => {
    const { emu, chip } = fastPair({ configured: true });
    assert.equal((await chip.random()).length, 32);
    emu.faults.absent = true;
    await assert.rejects(chip.random(), NoResponseError);
    const nacks = emu.stats.nacks;
    assert.ok(nacks < 200, `bounded: ${nacks} NACKs`);
    emu.faults.absent = false;
    assert.equal((await chip.random()).length, 32);
  });

  test("a wake answer other than 04 11 33 43 is a WakeError", async () => {
    const emu = new Atecc608aEmulator({ timing: "fast" });
    const chip = new Atecc608a(emu);
    await chip.wake();
    // Already awake: a second pulse changes nothing and the read returns the drained buffer (FF..).
    await assert.rejects(chip.wake(), WakeError);
  });
});
