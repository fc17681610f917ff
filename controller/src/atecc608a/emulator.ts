// An ATECC608A behind the i2c-bus interface, speaking the protocol byte for
// byte: asleep until a wake pulse, NACKs while it executes (the longest time the
// datasheet or cryptoauthlib allows each command, per-command overrides, or
// instantly in "fast" mode), CRC-checked commands, a config zone with lock bytes
// and UpdateExtra, the unlocked-chip test pattern, a watchdog, and fault switches
// for tests. Protocol facts: docs/reference/atecc608a.md.
//
// Commands modelled, and how (datasheet command sections; anything else answers 0x03):
// | opcode | command     | modelled                                                                               |
// |--------|-------------|----------------------------------------------------------------------------------------|
// | 0x02   | Read        | config zone, 4 or 32 bytes; other zones: 0x0F                                          |
// | 0x12   | Write       | config zone while unlocked, bytes 16..127 except word 0x15; else 0x0F                 |
// | 0x17   | Lock        | config zone (summary CRC checked unless bit 7), then data zone; twice: 0x0F            |
// | 0x1B   | Random      | 32 bytes; the FF FF 00 00 test pattern while the config zone is unlocked               |
// | 0x20   | UpdateExtra | modes 0/1 write byte 84/85 once (only while 0x00, locked or not); mode 2: 0x0F (below) |
// | 0x30   | Info        | mode 0 (revision) only                                                                 |
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { DEFAULT_I2C_CLOCK_HZ, nackError, transferMs, type I2cBus } from "./bus.js";
import { preciseWaitUntil, realClock, type Clock } from "./clock.js";
import { crc16Value } from "./crc.js";
import { decodeCommand, encodeResponse, type Command } from "./packet.js";
import {
  CONFIG_AES_ENABLE_BYTE, CONFIG_I2C_ENABLE_BYTE, CONFIG_LOCK_CONFIG_BYTE, CONFIG_LOCK_VALUE_BYTE, CONFIG_LOCK_WORD,
  CONFIG_USER_EXTRA_ADD_BYTE, CONFIG_USER_EXTRA_BYTE, CONFIG_WRITABLE_FROM, DEFAULT_I2C_ADDRESS, I2C_GENERAL_CALL_ADDRESS, LOCK_LOCKED,
  LOCK_UNLOCKED, EXECUTION_TIMES, OP_INFO, OP_LOCK, OP_RANDOM, OP_READ, OP_UPDATE_EXTRA, OP_WRITE, RANDOM_SIZE, REVISION_608A, STATUS_COMM_ERROR,
  STATUS_EXECUTION_ERROR, STATUS_PARSE_ERROR, STATUS_SUCCESS, STATUS_WATCHDOG_EXPIRING, T_WHI_MS, T_WLO_US, UNLOCKED_TEST_PATTERN,
  UPDATE_EXTRA_DECREMENT_LIMITED_USE, UPDATE_EXTRA_USER_EXTRA, UPDATE_EXTRA_USER_EXTRA_ADD, WAKE_RESPONSE, WATCHDOG_MS,
  WORD_ADDRESS_COMMAND, WORD_ADDRESS_IDLE, WORD_ADDRESS_RESET, WORD_ADDRESS_SLEEP, ZONE_32_BYTES, ZONE_CONFIG, lockByteIsLocked,
  longestExecMs,
} from "./protocol.js";
import { TLS_CONFIG_TEMPLATE } from "./tls-template.js";

export interface EmulatorFaults {
  /** Random answers this byte value 32 times (a stuck noise source). */
  stuck?: number;
  /** Random's bits are 1 with this probability instead of 1/2. */
  bias?: number;
  /** Flip a bit in the CRC of every response (or of the next N responses). */
  corruptCrc?: boolean | number;
  /** Nothing answers at the address: every transfer is NACKed. */
  absent?: boolean;
}

export interface EmulatorOptions {
  address?: number;
  /**
   * "datasheet": each command takes the longest time the datasheet or cryptoauthlib allows it
   * (protocol.ts longestExecMs) and transfers their bus time; "fast": instant.
   */
  timing?: "datasheet" | "fast";
  /** Execution time per opcode (ms), overriding the timing mode's: a chip slower or faster than documented. */
  execMs?: Partial<Record<number, number>>;
  /** Bus clock: decides transfer times and whether the general-call address is a long enough wake pulse. */
  clockHz?: number;
  clock?: Clock;
  /** Start with the config zone written from the TLS template and locked (a configured chip). */
  configured?: boolean;
  /** Start with these lock bytes (config bytes 86 LockValue and 87 LockConfig) instead of the factory's 0x55. */
  lockBytes?: { lockValue?: number; lockConfig?: number };
  faults?: EmulatorFaults;
}

type Mode = "sleep" | "idle" | "awake";

/** The config byte each UpdateExtra mode writes (datasheet "UpdateExtra Command"). */
const UPDATE_EXTRA_TARGET_BYTE: Readonly<Record<number, number>> = {
  [UPDATE_EXTRA_USER_EXTRA]: CONFIG_USER_EXTRA_BYTE,
  [UPDATE_EXTRA_USER_EXTRA_ADD]: CONFIG_USER_EXTRA_ADD_BYTE,
};

/** An opcode the emulator does not know is answered with a parse error this soon (ms). */
const UNKNOWN_OPCODE_MS = 1;

export class Atecc608aEmulator implements I2cBus {
  faults: EmulatorFaults;
  /** Per-opcode execution times (ms) overriding the timing mode's; may be changed between commands. */
  execMs: Partial<Record<number, number>>;
  readonly config = new Uint8Array(128);
  readonly stats = { wakes: 0, watchdogSleeps: 0, commands: 0, randoms: 0, badCrcCommands: 0, nacks: 0 };
  private mode: Mode = "sleep";
  private wokeAt = 0;
  /** The chip does not ACK before this time (tWHI after wake, or the end of an execution). */
  private busyUntil = 0;
  private output: Uint8Array = new Uint8Array(0);
  private outPos = 0;
  private readonly address: number;
  private readonly timing: "datasheet" | "fast";
  private readonly clockHz: number;
  private readonly clock: Clock;
  private readonly simulateWire: boolean;

  constructor(opts: EmulatorOptions = {}) {
    this.address = opts.address ?? DEFAULT_I2C_ADDRESS;
    this.timing = opts.timing ?? "datasheet";
    this.clockHz = opts.clockHz ?? DEFAULT_I2C_CLOCK_HZ;
    this.clock = opts.clock ?? realClock;
    this.simulateWire = this.timing === "datasheet" && this.clock === realClock;
    this.faults = { ...opts.faults };
    this.execMs = { ...opts.execMs };
    this.factoryConfig();
    if (opts.configured) {
      this.config.set(TLS_CONFIG_TEMPLATE.subarray(CONFIG_WRITABLE_FROM, CONFIG_LOCK_WORD * 4), CONFIG_WRITABLE_FROM);
      this.config.set(TLS_CONFIG_TEMPLATE.subarray(CONFIG_LOCK_WORD * 4 + 4), CONFIG_LOCK_WORD * 4 + 4);
      this.config[CONFIG_LOCK_CONFIG_BYTE] = LOCK_LOCKED;
    }
    if (opts.lockBytes?.lockValue !== undefined) this.config[CONFIG_LOCK_VALUE_BYTE] = opts.lockBytes.lockValue;
    if (opts.lockBytes?.lockConfig !== undefined) this.config[CONFIG_LOCK_CONFIG_BYTE] = opts.lockBytes.lockConfig;
  }

  get state(): Mode {
    this.tick(this.clock.now());
    return this.mode;
  }

  // Factory state (datasheet §2.2 "Configuration Zone"): serial 01 23 .. EE in bytes 0..3 and
  // 8..12, revision 00 00 60 02, AES_Enable 0x01 (byte 13), I2C_Enable 0x01 (byte 14: an I2C
  // part), reserved byte 15 0x00 (bytes 12..15 EE 01 01 00 as in cryptoauthlib's ATECC608
  // images), I2C address 0xC0, UserExtra and UserExtraAdd 0x00, both zones unlocked.
  private factoryConfig(): void {
    const sn = randomBytes(6);
    this.config.set([0x01, 0x23, sn[0], sn[1], 0x00, 0x00, REVISION_608A, 0x02, sn[2], sn[3], sn[4], sn[5], 0xee]);
    this.config[CONFIG_AES_ENABLE_BYTE] = 0x01;
    this.config[CONFIG_I2C_ENABLE_BYTE] = 0x01;
    this.config[15] = 0x00;
    this.config[16] = this.address << 1;
    this.config[CONFIG_LOCK_VALUE_BYTE] = LOCK_UNLOCKED;
    this.config[CONFIG_LOCK_CONFIG_BYTE] = LOCK_UNLOCKED;
  }

  private tick(now: number): void {
    if (this.mode === "awake" && now >= this.wokeAt + WATCHDOG_MS) {
      this.mode = "sleep";
      this.output = new Uint8Array(0);
      this.stats.watchdogSleeps++;
    }
  }

  /** Waits until `bytes` data bytes after the address, counted from `start`, are on the wire; returns the time. */
  private async wire(start: number, bytes: number): Promise<number> {
    if (this.simulateWire) await preciseWaitUntil(this.clock, start + transferMs(bytes, this.clockHz));
    return this.clock.now();
  }

  private nack(syscall: "read" | "write", code: "EREMOTEIO" | "ENXIO" = "EREMOTEIO"): never {
    this.stats.nacks++;
    throw nackError(syscall, code);
  }

  // Whether the chip ACKs is decided in the address phase, so a NACKed transfer ends
  // after one byte; an ACKed one is acted on once its stop condition is on the wire.
  async i2cWrite(addr: number, length: number, buffer: Buffer): Promise<{ bytesWritten: number; buffer: Buffer }> {
    const start = this.clock.now();
    const addressed = await this.wire(start, 0);
    this.tick(addressed);
    if (addr === I2C_GENERAL_CALL_ADDRESS) {
      // The chip sees only SDA: address 0x00 plus the write bit hold it low for 8 clocks, a wake
      // pulse if that reaches tWLO. Nobody ACKs, so the data byte (0x01 from the driver) never follows.
      const lowUs = (8 / this.clockHz) * 1e6;
      if (!this.faults.absent && this.mode !== "awake" && lowUs >= T_WLO_US) {
        this.mode = "awake";
        this.wokeAt = addressed;
        this.busyUntil = addressed + (this.timing === "fast" ? 0 : T_WHI_MS);
        this.output = WAKE_RESPONSE.slice();
        this.outPos = 0;
        this.stats.wakes++;
      }
      this.nack("write");
    }
    if (addr !== this.address || this.faults.absent) this.nack("write", "ENXIO");
    if (this.mode !== "awake" || addressed < this.busyUntil) this.nack("write");
    const now = await this.wire(start, length);
    const bytes = new Uint8Array(buffer.subarray(0, length));
    switch (bytes[0]) {
      case WORD_ADDRESS_RESET:
        this.outPos = 0;
        break;
      case WORD_ADDRESS_SLEEP:
        this.mode = "sleep";
        this.output = new Uint8Array(0);
        break;
      case WORD_ADDRESS_IDLE:
        this.mode = "idle";
        break;
      case WORD_ADDRESS_COMMAND:
        this.command(bytes.subarray(1), now);
        break;
      default:
        this.nack("write");
    }
    return { bytesWritten: length, buffer };
  }

  async i2cRead(addr: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }> {
    const start = this.clock.now();
    const addressed = await this.wire(start, 0);
    this.tick(addressed);
    if (addr !== this.address || this.faults.absent) this.nack("read", "ENXIO");
    if (this.mode !== "awake" || addressed < this.busyUntil) this.nack("read");
    await this.wire(start, length);
    for (let i = 0; i < length; i++) buffer[i] = this.output[this.outPos + i] ?? 0xff;
    this.outPos += length;
    return { bytesRead: length, buffer };
  }

  async close(): Promise<void> {}

  private command(bytes: Uint8Array, now: number): void {
    this.stats.commands++;
    const decoded = decodeCommand(bytes);
    if (!decoded || !decoded.crcOk) {
      this.stats.badCrcCommands++;
      return this.respond([STATUS_COMM_ERROR], now, 0);
    }
    const { cmd } = decoded;
    const exec = this.execMs[cmd.opcode] ?? (this.timing === "fast" ? 0 : EXECUTION_TIMES[cmd.opcode] ? longestExecMs(cmd.opcode) : UNKNOWN_OPCODE_MS);
    // A command that would outlive the watchdog is refused (datasheet §6.5).
    if (now + exec >= this.wokeAt + WATCHDOG_MS) return this.respond([STATUS_WATCHDOG_EXPIRING], now, 0);
    this.respond(this.execute(cmd), now, exec);
  }

  private respond(payload: ArrayLike<number>, now: number, execMs: number): void {
    const out = encodeResponse(Uint8Array.from(payload));
    const corrupt = this.faults.corruptCrc;
    if (corrupt === true || (typeof corrupt === "number" && corrupt > 0)) {
      out[out.length - 1] ^= 0x01;
      if (typeof corrupt === "number") this.faults.corruptCrc = corrupt - 1;
    }
    this.output = out;
    this.outPos = 0;
    this.busyUntil = now + execMs;
  }

  private execute(cmd: Command): number[] | Uint8Array {
    const data = cmd.data ?? new Uint8Array(0);
    // Whatever is not the documented unlocked value 0x55 counts as locked, as the driver reads it.
    const configLocked = lockByteIsLocked(this.config[CONFIG_LOCK_CONFIG_BYTE]);
    switch (cmd.opcode) {
      case OP_RANDOM:
        if (cmd.param1 > 1 || data.length !== 0) return [STATUS_PARSE_ERROR];
        this.stats.randoms++;
        return configLocked ? this.rng() : UNLOCKED_TEST_PATTERN.slice();
      case OP_INFO:
        if (cmd.param1 !== 0x00) return [STATUS_PARSE_ERROR];
        return [0x00, 0x00, REVISION_608A, 0x02];
      case OP_READ: {
        if ((cmd.param1 & 0x03) !== ZONE_CONFIG) return [STATUS_EXECUTION_ERROR];
        const wide = (cmd.param1 & ZONE_32_BYTES) !== 0;
        const word = cmd.param2 & 0x1f;
        if (wide && (word & 0x07) !== 0) return [STATUS_PARSE_ERROR];
        return this.config.slice(word * 4, word * 4 + (wide ? 32 : 4));
      }
      case OP_WRITE: {
        if ((cmd.param1 & 0x03) !== ZONE_CONFIG || configLocked) return [STATUS_EXECUTION_ERROR];
        const wide = (cmd.param1 & ZONE_32_BYTES) !== 0;
        const word = cmd.param2 & 0x1f;
        if (data.length !== (wide ? 32 : 4) || (wide && (word & 0x07) !== 0)) return [STATUS_PARSE_ERROR];
        const first = word * 4;
        const last = first + data.length - 1;
        const touchesLock = first <= CONFIG_LOCK_WORD * 4 + 3 && last >= CONFIG_LOCK_WORD * 4;
        if (first < CONFIG_WRITABLE_FROM || touchesLock) return [STATUS_EXECUTION_ERROR];
        this.config.set(data, first);
        return [STATUS_SUCCESS];
      }
      case OP_LOCK: {
        const zone = cmd.param1 & 0x03;
        const checkCrc = (cmd.param1 & 0x80) === 0;
        if (zone === 0) {
          if (configLocked) return [STATUS_EXECUTION_ERROR];
          if (checkCrc && crc16Value(this.config) !== cmd.param2) return [STATUS_EXECUTION_ERROR];
          this.config[CONFIG_LOCK_CONFIG_BYTE] = LOCK_LOCKED;
          return [STATUS_SUCCESS];
        }
        if (zone === 1) {
          if (!configLocked || lockByteIsLocked(this.config[CONFIG_LOCK_VALUE_BYTE])) return [STATUS_EXECUTION_ERROR];
          this.config[CONFIG_LOCK_VALUE_BYTE] = LOCK_LOCKED;
          return [STATUS_SUCCESS];
        }
        return [STATUS_PARSE_ERROR];
      }
      case OP_UPDATE_EXTRA: {
        // Datasheet "UpdateExtra Command": no data; Param1 the mode; for modes 0 and 1 the new value
        // in Param2's low byte (the high byte is not checked). Bytes 84 and 85 take one update each,
        // while they still read 0x00, whether or not the config zone is locked (cryptoauthlib's
        // atcab_write_config_zone relies on it before the lock; after it, this is the only way in).
        if (data.length !== 0 || cmd.param1 > UPDATE_EXTRA_DECREMENT_LIMITED_USE) return [STATUS_PARSE_ERROR];
        // Limited-use counters belong to data-zone keys, which are not modelled: refused, not misparsed.
        if (cmd.param1 === UPDATE_EXTRA_DECREMENT_LIMITED_USE) return [STATUS_EXECUTION_ERROR];
        const at = UPDATE_EXTRA_TARGET_BYTE[cmd.param1];
        if (this.config[at] !== 0x00) return [STATUS_EXECUTION_ERROR];
        this.config[at] = cmd.param2 & 0xff;
        return [STATUS_SUCCESS];
      }
      default:
        return [STATUS_PARSE_ERROR];
    }
  }

  private rng(): Uint8Array {
    const { stuck, bias } = this.faults;
    if (stuck !== undefined) return new Uint8Array(RANDOM_SIZE).fill(stuck);
    if (bias !== undefined) {
      const out = new Uint8Array(RANDOM_SIZE);
      for (let i = 0; i < RANDOM_SIZE; i++) for (let b = 0; b < 8; b++) if (Math.random() < bias) out[i] |= 1 << b;
      return out;
    }
    return new Uint8Array(randomBytes(RANDOM_SIZE));
  }
}
