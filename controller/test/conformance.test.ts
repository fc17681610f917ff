// Issue 16: the driver and the emulator measured against Microchip's cryptoauthlib 3.7.8
// and the datasheet. Everything goes through the bus: the driver's public functions over
// the emulator, with a recording bus in between to see the bytes on the wire.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createLogger } from "../../runtime/src/index.js";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { isNack, type I2cBus } from "../src/atecc608a/bus.js";
import { VirtualClock, type Clock } from "../src/atecc608a/clock.js";
import { configureDevice } from "../src/atecc608a/configure.js";
import { crc16Value } from "../src/atecc608a/crc.js";
import { Atecc608a } from "../src/atecc608a/driver.js";
import { Atecc608aEmulator, type EmulatorOptions } from "../src/atecc608a/emulator.js";
import { ExecutionError, ExecutionTimeoutError, ParseError } from "../src/atecc608a/errors.js";
import { encodeCommand } from "../src/atecc608a/packet.js";
import {
  EXECUTION_TIMES, EXECUTION_TIME_MARGIN, LOCK_CONFIG_WITH_CRC, OP_INFO, OP_LOCK, OP_RANDOM, OP_READ, OP_UPDATE_EXTRA, OP_WRITE,
  UPDATE_EXTRA_DECREMENT_LIMITED_USE, UPDATE_EXTRA_USER_EXTRA, UPDATE_EXTRA_USER_EXTRA_ADD, WORD_ADDRESS_COMMAND, ZONE_CONFIG,
  longestExecMs, pollBoundMs,
} from "../src/atecc608a/protocol.js";
import { TLS_CONFIG_TEMPLATE } from "../src/atecc608a/tls-template.js";
import { ChipSource } from "../src/sources.js";

const hex = (b: ArrayLike<number>) => Buffer.from(Uint8Array.from(b)).toString("hex");

interface Transfer {
  op: "write" | "read";
  addr: number;
  bytes: number[];
  acked: boolean;
  at: number;
}

/** A bus between the driver and the emulator that records every transfer, as a logic analyser would. */
class RecordingBus implements I2cBus {
  readonly transfers: Transfer[] = [];
  constructor(private readonly inner: I2cBus, private readonly clock: Clock) {}

  async i2cWrite(addr: number, length: number, buffer: Buffer) {
    const t: Transfer = { op: "write", addr, bytes: [...buffer.subarray(0, length)], acked: false, at: this.clock.now() };
    this.transfers.push(t);
    const r = await this.inner.i2cWrite(addr, length, buffer);
    t.acked = true;
    return r;
  }

  async i2cRead(addr: number, length: number, buffer: Buffer) {
    const t: Transfer = { op: "read", addr, bytes: [], acked: false, at: this.clock.now() };
    this.transfers.push(t);
    const r = await this.inner.i2cRead(addr, length, buffer);
    t.acked = true;
    t.bytes = [...buffer.subarray(0, length)];
    return r;
  }

  close() {
    return this.inner.close();
  }

  /** Command packets (count..CRC) the chip acknowledged, in order. */
  commands(): number[][] {
    return this.transfers.filter((t) => t.op === "write" && t.acked && t.bytes[0] === WORD_ADDRESS_COMMAND).map((t) => t.bytes.slice(1));
  }
}

/** Emulator at datasheet timing on a virtual clock, the driver, and a recording bus between them. */
function rig(opts: Omit<EmulatorOptions, "clock"> = {}) {
  const clock = new VirtualClock();
  const emu = new Atecc608aEmulator({ timing: "datasheet", clock, ...opts });
  const bus = new RecordingBus(emu, clock);
  return { clock, emu, bus, chip: new Atecc608a(bus, { clock }) };
}

const silent = () => createLogger("test", { level: "error", write: () => undefined });

describe("UpdateExtra (0x20), as the datasheet describes it", () => {
  test("cryptoauthlib's atcab_write_config_zone sequence succeeds on an unlocked chip: Write 16..127, then UpdateExtra for bytes 84 and 85", async () => {
    const { chip, bus } = rig();
    const image = TLS_CONFIG_TEMPLATE.slice();
    image[84] = 0x5a; // UserExtra set by the image; UserExtraAdd left 0x00
    // calib_write_bytes_zone from byte 16: blocks 0 and 2 word by word (skipping word 0x15), blocks 1 and 3 in 32-byte writes.
    for (let w = 4; w < 8; w++) await chip.write(ZONE_CONFIG, w, image.subarray(w * 4, w * 4 + 4));
    await chip.write(ZONE_CONFIG, 1 << 3, image.subarray(32, 64));
    for (let w = 16; w < 24; w++) if (w !== 0x15) await chip.write(ZONE_CONFIG, w, image.subarray(w * 4, w * 4 + 4));
    await chip.write(ZONE_CONFIG, 3 << 3, image.subarray(96, 128));
    await chip.updateExtra(UPDATE_EXTRA_USER_EXTRA, image[84]);
    await chip.updateExtra(UPDATE_EXTRA_USER_EXTRA_ADD, image[85]);

    const updates = bus.commands().filter((p) => p[1] === OP_UPDATE_EXTRA);
    assert.deepEqual(updates.map((p) => hex(p.slice(0, 5))), ["0720005a00", "0720010000"], "count 7, opcode 0x20, mode, value in Param2's low byte, no data");
    const config = await chip.readConfigZone();
    assert.equal(hex(config.subarray(84, 88)), "5a005555", "UserExtra written, UserExtraAdd still 0x00, both zones unlocked");
    assert.deepEqual(config.subarray(16, 84), image.subarray(16, 84));
    assert.deepEqual(config.subarray(88), image.subarray(88));
  });

  test("each of bytes 84 and 85 takes one update while it reads 0x00, before and after the config lock; then an execution error", async () => {
    const unlocked = rig().chip;
    await unlocked.updateExtra(UPDATE_EXTRA_USER_EXTRA, 0x00); // 0x00 onto 0x00: accepted, and the byte stays updatable
    await unlocked.updateExtra(UPDATE_EXTRA_USER_EXTRA, 0x42);
    await assert.rejects(unlocked.updateExtra(UPDATE_EXTRA_USER_EXTRA, 0x42), ExecutionError);
    await assert.rejects(unlocked.updateExtra(UPDATE_EXTRA_USER_EXTRA, 0x43), ExecutionError);
    assert.equal(hex(await unlocked.read(ZONE_CONFIG, 0x15, 4)), "42005555");
    await assert.rejects(unlocked.write(ZONE_CONFIG, 0x15, Uint8Array.of(0, 0x11, 0x55, 0x55)), ExecutionError, "Write never reaches word 0x15");

    const locked = rig({ configured: true }).chip;
    assert.equal((await locked.lockState()).configLocked, true);
    await locked.updateExtra(UPDATE_EXTRA_USER_EXTRA_ADD, 0xc2);
    await assert.rejects(locked.updateExtra(UPDATE_EXTRA_USER_EXTRA_ADD, 0xc4), ExecutionError);
    assert.equal(hex((await locked.read(ZONE_CONFIG, 0x15, 4)).subarray(0, 2)), "00c2");
  });

  test("a malformed UpdateExtra is a parse error; the limited-use decrement (mode 2, not modelled) is refused with an execution error", async () => {
    const { chip } = rig();
    await assert.rejects(chip.execute({ opcode: OP_UPDATE_EXTRA, param1: 0x03, param2: 0 }, 1), ParseError, "unknown mode");
    await assert.rejects(chip.execute({ opcode: OP_UPDATE_EXTRA, param1: 0x00, param2: 1, data: Uint8Array.of(1, 2, 3, 4) }, 1), ParseError, "data");
    await assert.rejects(chip.updateExtra(UPDATE_EXTRA_DECREMENT_LIMITED_USE, 0), ExecutionError);
    await assert.rejects(chip.updateExtra(UPDATE_EXTRA_USER_EXTRA, 0x100), RangeError, "the driver refuses a value that is not a byte");
    assert.equal(hex(await chip.read(ZONE_CONFIG, 0x15, 4)), "00005555", "nothing changed");
  });
});

describe("wake: a general call whose second byte is 01h (UM10204 §3.2.10)", () => {
  test("every wake the driver sends is one byte 0x01 to address 0x00, and the chip answers 04 11 33 43", async () => {
    const { chip, bus, clock } = rig({ configured: true });
    await chip.random();
    await chip.idle();
    await chip.revision();
    clock.advance(5000); // past the watchdog: the next command needs a fresh wake
    await chip.random();
    const pulses = bus.transfers.filter((t) => t.addr === 0x00);
    assert.equal(pulses.length, 3);
    for (const p of pulses) {
      assert.equal(p.op, "write");
      assert.deepEqual(p.bytes, [0x01]);
      assert.equal(p.acked, false, "nobody acknowledges the general call");
    }
    const answers = bus.transfers.filter((t) => t.op === "read" && t.acked && t.bytes.length === 4 && t.bytes[1] === 0x11);
    assert.deepEqual(answers.map((t) => hex(t.bytes)), ["04113343", "04113343", "04113343"]);
  });

  test("the emulator wakes on the low pulse alone, whatever byte follows the general-call address", async () => {
    for (const second of [0x00, 0x01, 0x06, 0xff]) {
      const emu = new Atecc608aEmulator({ timing: "fast" });
      await assert.rejects(emu.i2cWrite(0x00, 1, Buffer.from([second])), (e) => isNack(e));
      const answer = Buffer.alloc(4);
      await emu.i2cRead(0x60, 4, answer);
      assert.equal(hex(answer), "04113343", `second byte 0x${second.toString(16)}`);
    }
  });
});

describe("execution times: every command survives 1.5 × the longest time the datasheet or cryptoauthlib allows", () => {
  // cryptoauthlib 3.7.8 calib_execution.c, ATECC608 table (identical for clock dividers M0, M1, M2).
  const CRYPTOAUTHLIB_608: Record<number, number> = { [OP_READ]: 5, [OP_WRITE]: 45, [OP_LOCK]: 35, [OP_RANDOM]: 23, [OP_UPDATE_EXTRA]: 10, [OP_INFO]: 5 };

  /** One call of the driver function that sends `op`, on a chip in the state that command needs. */
  async function run(chip: Atecc608a, op: number): Promise<void> {
    switch (op) {
      case OP_READ:
        return void (await chip.read(ZONE_CONFIG, 0, 4));
      case OP_WRITE:
        return chip.write(ZONE_CONFIG, 5, Uint8Array.of(1, 2, 3, 4));
      case OP_LOCK:
        return chip.lock(LOCK_CONFIG_WITH_CRC, crc16Value(await chip.readConfigZone()));
      case OP_RANDOM:
        return void (await chip.random());
      case OP_UPDATE_EXTRA:
        return chip.updateExtra(UPDATE_EXTRA_USER_EXTRA, 0x01);
      case OP_INFO:
        return void (await chip.revision());
    }
    throw new Error(`no driver function for opcode 0x${op.toString(16)}`);
  }
  const opcodes = Object.keys(EXECUTION_TIMES).map(Number);

  test("the table: cryptoauthlib's ATECC608 figures, and a poll bound of ceil(1.5 × the larger figure) for every command the driver sends", async () => {
    for (const op of opcodes) {
      const t = EXECUTION_TIMES[op];
      assert.equal(t.cryptoauthlibMs, CRYPTOAUTHLIB_608[op], t.command);
      assert.equal(t.pollBoundMs, Math.ceil(EXECUTION_TIME_MARGIN * Math.max(t.datasheetMaxMs, t.cryptoauthlibMs)), t.command);
      assert.ok(t.pollBoundMs >= 1.5 * t.datasheetMaxMs && t.pollBoundMs >= 1.5 * t.cryptoauthlibMs, t.command);
    }
    // Whatever the driver puts on the bus has a row.
    const { chip, bus } = rig();
    for (const op of [OP_INFO, OP_READ, OP_WRITE, OP_UPDATE_EXTRA, OP_LOCK, OP_RANDOM]) await run(chip, op);
    const sent = new Set(bus.commands().map((p) => p[1]));
    for (const op of sent) assert.ok(EXECUTION_TIMES[op], `opcode 0x${op.toString(16)} has an execution-time row`);
    assert.deepEqual([...sent].sort(), [...opcodes].sort());
  });

  for (const op of opcodes) {
    const { command } = EXECUTION_TIMES[op];
    test(`${command}: a chip taking exactly 1.5 × ${longestExecMs(op)} ms is still answered`, async () => {
      const { chip, emu, bus } = rig({ execMs: { [op]: EXECUTION_TIME_MARGIN * longestExecMs(op) } });
      await run(chip, op);
      const sent = bus.transfers.findLastIndex((t) => t.op === "write" && t.acked && t.bytes[0] === WORD_ADDRESS_COMMAND && t.bytes[2] === op);
      const answered = bus.transfers.slice(sent + 1).find((t) => t.op === "read" && t.acked)!;
      const took = answered.at - bus.transfers[sent].at;
      assert.ok(took >= EXECUTION_TIME_MARGIN * longestExecMs(op), `the answer came only after the slow execution (${took} ms)`);
      assert.ok(took <= pollBoundMs(op), `and within the poll bound (${took} ms)`);
      assert.equal(emu.stats.watchdogSleeps, 0);
    });

    test(`${command}: a chip slower than the ${pollBoundMs(op)} ms bound fails with ExecutionTimeoutError after bounded polling, and the driver recovers`, async () => {
      const { chip, emu, bus, clock } = rig({ execMs: { [op]: pollBoundMs(op) + 1 } });
      if (op === OP_LOCK) await chip.readConfigZone(); // what the Lock step reads first, at normal speed
      const before = bus.transfers.length;
      await assert.rejects(run(chip, op), (e: unknown) => {
        assert.ok(e instanceof ExecutionTimeoutError, String(e));
        assert.equal(e.opcode, op);
        assert.match(e.message, new RegExp(`${command} \\(opcode 0x[0-9a-f]{2}\\) gave no answer within its ${pollBoundMs(op)} ms poll bound`));
        return true;
      });
      const mine = bus.transfers.slice(before);
      const sentIndex = mine.findIndex((t) => t.op === "write" && t.acked && t.bytes[0] === WORD_ADDRESS_COMMAND && t.bytes[2] === op);
      const sent = mine[sentIndex];
      const polls = mine.slice(sentIndex + 1).filter((t) => t.op === "read");
      assert.ok(polls.every((t) => !t.acked), "no read was answered");
      assert.ok(polls.length <= pollBoundMs(op) + 1, `bounded: ${polls.length} reads`);
      assert.ok(clock.now() - sent.at <= pollBoundMs(op) + 1, `gave up ${clock.now() - sent.at} ms after sending`);
      emu.execMs = {};
      if (op !== OP_LOCK && op !== OP_UPDATE_EXTRA) await run(chip, op); // the slow one still completed on the chip
      assert.equal((await chip.revision()).length, 4, "the next command resynchronises and succeeds");
    });
  }

  test("the poll loop is bounded by a read count even when the clock stands still", async () => {
    const frozen: Clock = { now: () => 0, sleep: async () => undefined };
    const emu = new Atecc608aEmulator({ timing: "fast", clock: frozen, configured: true, execMs: { [OP_RANDOM]: 1000 } });
    const chip = new Atecc608a(emu, { clock: frozen });
    await assert.rejects(chip.random(), ExecutionTimeoutError);
    // One wake pulse, plus the reads of one poll: at most bound / interval + 1 of them.
    assert.ok(emu.stats.nacks <= 1 + 1 + pollBoundMs(OP_RANDOM) + 1, `${emu.stats.nacks} NACKs`);
  });
});

describe("lock bytes (config 86 LockValue, 87 LockConfig): 0x55 unlocked, anything else locked", () => {
  const datasheetLiteral = (b: number) => b === 0x00; // "locked" only for the value Lock writes
  const cryptoauthlib = (b: number) => b !== 0x55; // calib_is_locked

  for (const value of [0x00, 0x55, 0x01, 0xff]) {
    test(`a lock byte reading 0x${value.toString(16).padStart(2, "0")}`, async () => {
      for (const which of ["lockConfig", "lockValue"] as const) {
        const { chip } = rig({ lockBytes: { [which]: value } });
        const state = await chip.lockState();
        const probed = await new ChipSource(EntropySource.EMULATOR, chip).probe();
        const locked = which === "lockConfig" ? state.configLocked : state.dataLocked;
        const other = which === "lockConfig" ? state.dataLocked : state.configLocked;
        assert.equal(locked, cryptoauthlib(value), `${which}: the driver reads it as cryptoauthlib does`);
        assert.equal(which === "lockConfig" ? probed.configLocked : probed.dataLocked, locked, `${which}: the service's probe agrees`);
        assert.equal(other, false, "the other byte, 0x55, stays unlocked");
        const documented = value === 0x00 || value === 0x55;
        assert.equal(datasheetLiteral(value) === cryptoauthlib(value), documented, "the two readings differ only on undocumented values");
      }
    });
  }

  for (const [value, outcome] of [[0x55, "configured"], [0x00, "already-locked"], [0x01, "already-locked"]] as const) {
    test(`FORCE_CONFIG with LockConfig 0x${value.toString(16).padStart(2, "0")}: ${outcome}`, async () => {
      const { chip, emu, bus } = rig({ lockBytes: { lockConfig: value } });
      const before = emu.config.slice();
      assert.equal(await configureDevice(chip, { force: true, log: silent() }), outcome);
      const changing = bus.commands().filter((p) => p[1] === OP_WRITE || p[1] === OP_LOCK || p[1] === OP_UPDATE_EXTRA);
      if (outcome === "configured") {
        assert.equal(changing.filter((p) => p[1] === OP_LOCK).length, 1);
        assert.equal(emu.config[87], 0x00);
      } else {
        assert.equal(changing.length, 0, "no Write, Lock or UpdateExtra reached the chip");
        assert.deepEqual(emu.config, before);
      }
    });
  }
});

describe("factory configuration bytes", () => {
  test("bytes 12..15 read EE 01 01 00 (SN[8], AES_Enable, I2C_Enable with bit 0 set on an I2C part, reserved), as in cryptoauthlib's ATECC608 images", async () => {
    const { chip } = rig();
    assert.equal(hex(await chip.read(ZONE_CONFIG, 3, 4)), "ee010100");
    const configured = rig();
    await configureDevice(configured.chip, { force: true, log: silent() });
    assert.equal(hex(await configured.chip.read(ZONE_CONFIG, 3, 4)), "ee010100", "read-only: configuration leaves them");
  });

  test("the Info packet on the wire is the one Microchip's own kit firmware sends: 03 07 30 00 00 00 03 5D", async () => {
    const { chip, bus } = rig();
    await chip.revision();
    const info = bus.transfers.find((t) => t.op === "write" && t.bytes[0] === WORD_ADDRESS_COMMAND)!;
    assert.equal(hex(info.bytes), "030730000000035d");
    assert.equal(hex(encodeCommand({ opcode: OP_INFO, param1: 0, param2: 0 })), "030730000000035d");
  });
});
