// An ATECC608A behind the i2c-bus interface, speaking the protocol byte for
// byte: asleep until a wake pulse, NACKs while it executes (the longest time the
// datasheet or cryptoauthlib allows each command, per-command overrides, or
// instantly in "fast" mode), CRC-checked commands, a config zone with lock bytes
// and UpdateExtra, the unlocked-chip test pattern, a watchdog, and fault switches
// for tests. What each command does to the chip's state: emulator-commands.ts.
// Protocol facts: docs/reference/atecc608a.md.
import { Buffer } from "node:buffer";
import { DEFAULT_I2C_CLOCK_HZ, nackError, transferMs, type I2cBus } from "./bus.js";
import { preciseWaitUntil, realClock, type Clock } from "./clock.js";
import { executeCommand, factoryConfig, type EmulatorFaults } from "./emulator-commands.js";
import { decodeCommand, encodeResponse } from "./packet.js";
import {
  CONFIG_LOCK_CONFIG_BYTE, CONFIG_LOCK_VALUE_BYTE, CONFIG_LOCK_WORD, CONFIG_WRITABLE_FROM, DEFAULT_I2C_ADDRESS,
  EXECUTION_TIMES, I2C_GENERAL_CALL_ADDRESS, LOCK_LOCKED, STATUS_COMM_ERROR, STATUS_WATCHDOG_EXPIRING, T_WHI_MS, T_WLO_US,
  WAKE_RESPONSE, WATCHDOG_MS, WORD_ADDRESS_COMMAND, WORD_ADDRESS_IDLE, WORD_ADDRESS_RESET, WORD_ADDRESS_SLEEP, longestExecMs,
} from "./protocol.js";
import { TLS_CONFIG_TEMPLATE } from "./tls-template.js";

export type { EmulatorFaults };

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
  /**
   * The 9-byte serial number (datasheet §2.2: bytes 0..1 are 01 23 and byte 8 is EE on every
   * chip); unset: the fixed bytes around 6 random ones, a different chip each start.
   */
  serial?: Uint8Array;
  /** Start with these lock bytes (config bytes 86 LockValue and 87 LockConfig) instead of the factory's 0x55. */
  lockBytes?: { lockValue?: number; lockConfig?: number };
  faults?: EmulatorFaults;
}

type Mode = "sleep" | "idle" | "awake";

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
    factoryConfig(this.config, this.address, opts.serial);
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
    this.respond(executeCommand(this, cmd), now, exec);
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
}
