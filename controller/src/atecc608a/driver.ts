// ATECC608A driver over an i2c-bus style bus: wake/idle/sleep, one function per
// command, polling bounded at 1.5 × each command's longest allowed execution time
// while the chip NACKs, response checks, and re-wake before the watchdog puts the
// chip to sleep. Protocol facts: docs/reference/atecc608a.md.
import { Buffer } from "node:buffer";
import type { Logger } from "../../../runtime/src/index.js";
import { isNack, type I2cBus } from "./bus.js";
import { realClock, type Clock } from "./clock.js";
import { AteccError, ExecutionTimeoutError, NoResponseError, WakeError } from "./errors.js";
import { decodeResponse, encodeCommand, responseLength, type Command } from "./packet.js";
import {
  CONFIG_LOCK_CONFIG_BYTE, CONFIG_LOCK_VALUE_BYTE, CONFIG_LOCK_WORD, CONFIG_ZONE_SIZE, DEFAULT_I2C_ADDRESS, EXECUTION_TIMES,
  I2C_GENERAL_CALL_ADDRESS, MAX_EXEC_MS, OP_INFO, OP_LOCK, OP_RANDOM, OP_READ, OP_UPDATE_EXTRA, OP_WRITE, RANDOM_SIZE,
  RESPONSE_POLL_INTERVAL_MS, T_WHI_MS, UPDATE_EXTRA_DECREMENT_LIMITED_USE, WAKE_GENERAL_CALL_BYTE, WAKE_POLL_BOUND_MS,
  WAKE_RESPONSE, WATCHDOG_MS, WORD_ADDRESS_IDLE, WORD_ADDRESS_SLEEP, ZONE_32_BYTES, ZONE_CONFIG, lockByteIsLocked, pollBoundMs,
} from "./protocol.js";

/** Head-room kept before the watchdog when deciding whether a command still fits (ms). */
const WATCHDOG_MARGIN_MS = 100;
/** Whole-command attempts when the failure is transient (bad CRC, lost sync, NACK). */
const COMMAND_ATTEMPTS = 3;

export interface DriverOptions {
  address?: number;
  clock?: Clock;
  log?: Logger;
}

export interface LockState {
  configLocked: boolean;
  dataLocked: boolean;
}

/** The raw lock bytes of config word 0x15: LockValue (byte 86) and LockConfig (byte 87). */
export interface LockBytes {
  lockValue: number;
  lockConfig: number;
}

export class Atecc608a {
  readonly address: number;
  private readonly clock: Clock;
  /** When the last wake pulse went out; undefined while the chip is (or may be) idle or asleep. */
  private awakeSince: number | undefined;
  /** After a failure the chip's mode is unknown; an idle before the next wake resynchronises it. */
  private unsure = true;

  constructor(private readonly bus: I2cBus, private readonly opts: DriverOptions = {}) {
    this.address = opts.address ?? DEFAULT_I2C_ADDRESS;
    this.clock = opts.clock ?? realClock;
  }

  get awake(): boolean {
    return this.awakeSince !== undefined;
  }

  /**
   * Wake pulse, tWHI, then expect 04 11 33 43. The pulse is a write to the general-call
   * address, whose address bits hold SDA low long enough (tWLO) at 100 kHz; nobody ACKs it,
   * so the write fails by design. Its data byte is 0x01, never 0x00 (UM10204 §3.2.10).
   */
  async wake(): Promise<void> {
    const started = this.clock.now();
    try {
      await this.bus.i2cWrite(I2C_GENERAL_CALL_ADDRESS, 1, Buffer.from([WAKE_GENERAL_CALL_BYTE]));
    } catch (err) {
      if (!isNack(err)) throw err;
    }
    await this.clock.sleep(T_WHI_MS);
    const answer = await this.readPolling(WAKE_RESPONSE.length, started, WAKE_POLL_BOUND_MS, (reads) =>
      new NoResponseError(`no wake answer from 0x${this.address.toString(16)} within ${WAKE_POLL_BOUND_MS} ms (${reads} reads NACKed)`),
    );
    if (!answer.equals(Buffer.from(WAKE_RESPONSE))) {
      this.unsure = true;
      throw new WakeError(`unexpected wake answer ${answer.toString("hex")} (expected 04113343)`);
    }
    this.awakeSince = started;
    this.unsure = false;
  }

  /** Idle keeps the RNG state and stops the watchdog. NACKs are ignored: an asleep chip is idle enough. */
  async idle(): Promise<void> {
    await this.sendWordAddress(WORD_ADDRESS_IDLE);
  }

  async sleep(): Promise<void> {
    await this.sendWordAddress(WORD_ADDRESS_SLEEP);
  }

  private async sendWordAddress(word: number): Promise<void> {
    this.awakeSince = undefined;
    try {
      await this.bus.i2cWrite(this.address, 1, Buffer.from([word]));
      this.unsure = false;
    } catch (err) {
      if (!isNack(err)) throw err;
    }
  }

  /** Runs `fn` with the chip awake and leaves it idle afterwards, whatever happened. */
  async session<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      await this.idle().catch(() => undefined);
    }
  }

  // The watchdog counts from the wake pulse; a command that cannot finish
  // before it fires would be answered 0xEE, so idle and wake again first.
  private async ensureAwake(opcode: number): Promise<void> {
    const budget = pollBoundMs(opcode) + WATCHDOG_MARGIN_MS;
    if (this.awakeSince !== undefined && this.clock.now() + budget < this.awakeSince + WATCHDOG_MS) return;
    if (this.awakeSince !== undefined || this.unsure) await this.idle();
    await this.wake();
  }

  /**
   * Sends one command and returns its payload, retrying transient failures a bounded number of times.
   * The first read comes after the datasheet's maximum execution time; while the chip NACKs, reads
   * repeat until the command's poll bound (protocol.ts EXECUTION_TIMES) has passed since the send.
   */
  async execute(cmd: Command, expected: number): Promise<Uint8Array> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensureAwake(cmd.opcode);
        const packet = Buffer.from(encodeCommand(cmd));
        try {
          await this.bus.i2cWrite(this.address, packet.length, packet);
        } catch (err) {
          if (isNack(err)) throw new NoResponseError(`command 0x${cmd.opcode.toString(16)} not acknowledged`);
          throw err;
        }
        const sent = this.clock.now();
        const bound = pollBoundMs(cmd.opcode);
        await this.clock.sleep(Math.min(MAX_EXEC_MS[cmd.opcode] ?? RESPONSE_POLL_INTERVAL_MS, bound));
        const name = EXECUTION_TIMES[cmd.opcode]?.command ?? "command";
        const raw = await this.readPolling(responseLength(expected), sent, bound, (reads) => new ExecutionTimeoutError(cmd.opcode, bound, reads, name));
        return decodeResponse(raw, cmd.opcode, expected);
      } catch (err) {
        const transient = err instanceof AteccError ? err.transient : isNack(err);
        if (transient || err instanceof ExecutionTimeoutError) {
          // The chip may still be executing, or hold an answer nobody read: idle and wake before the next command.
          this.awakeSince = undefined;
          this.unsure = true;
        }
        if (!transient || attempt >= COMMAND_ATTEMPTS) throw err;
        this.opts.log?.debug("retrying ATECC608A command", { opcode: cmd.opcode, attempt, error: err });
      }
    }
  }

  /**
   * Reads `length` bytes, retrying while the chip NACKs (it does not ACK its address while it
   * executes) until `boundMs` after `since`. Bounded twice: by the clock, and by a read count
   * that holds even if the clock stood still.
   */
  private async readPolling(length: number, since: number, boundMs: number, timeout: (reads: number) => Error): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const deadline = since + boundMs;
    const maxReads = Math.ceil(boundMs / RESPONSE_POLL_INTERVAL_MS) + 1;
    for (let reads = 1; ; reads++) {
      try {
        await this.bus.i2cRead(this.address, length, buf);
        return buf;
      } catch (err) {
        if (!isNack(err)) throw err;
      }
      const now = this.clock.now();
      if (now >= deadline || reads >= maxReads) throw timeout(reads);
      await this.clock.sleep(Math.min(RESPONSE_POLL_INTERVAL_MS, deadline - now));
    }
  }

  /** 32 bytes from the RNG (mode 0: update the seed). Raw: not conditioned, not health-tested. */
  random(): Promise<Uint8Array> {
    return this.execute({ opcode: OP_RANDOM, param1: 0x00, param2: 0x0000 }, RANDOM_SIZE);
  }

  /** Info mode 0: the 4-byte revision (00 00 60 02 on an ATECC608A). */
  revision(): Promise<Uint8Array> {
    return this.execute({ opcode: OP_INFO, param1: 0x00, param2: 0x0000 }, 4);
  }

  /** Reads 4 or 32 bytes; `word` is the 4-byte word index (block << 3 for 32-byte reads). */
  read(zone: number, word: number, length: 4 | 32): Promise<Uint8Array> {
    return this.execute({ opcode: OP_READ, param1: zone | (length === 32 ? ZONE_32_BYTES : 0), param2: word }, length);
  }

  async write(zone: number, word: number, data: Uint8Array): Promise<void> {
    if (data.length !== 4 && data.length !== 32) throw new RangeError("writes are 4 or 32 bytes");
    await this.execute({ opcode: OP_WRITE, param1: zone | (data.length === 32 ? ZONE_32_BYTES : 0), param2: word, data }, 1);
  }

  /** Lock with `mode` (protocol.ts LOCK_*); `summaryCrc` is checked by the chip unless the mode skips it. */
  async lock(mode: number, summaryCrc = 0): Promise<void> {
    await this.execute({ opcode: OP_LOCK, param1: mode, param2: summaryCrc }, 1);
  }

  async readConfigZone(): Promise<Uint8Array> {
    const out = new Uint8Array(CONFIG_ZONE_SIZE);
    for (let block = 0; block < CONFIG_ZONE_SIZE / 32; block++) out.set(await this.read(ZONE_CONFIG, block << 3, 32), block * 32);
    return out;
  }

  /**
   * UpdateExtra (datasheet "UpdateExtra Command"): mode UPDATE_EXTRA_USER_EXTRA or
   * UPDATE_EXTRA_USER_EXTRA_ADD writes `value` to config byte 84 or 85, which the chip allows only
   * while that byte is 0x00 (else ExecutionError); UPDATE_EXTRA_DECREMENT_LIMITED_USE takes a slot.
   */
  async updateExtra(mode: number, value: number): Promise<void> {
    if (!Number.isInteger(mode) || mode < 0 || mode > UPDATE_EXTRA_DECREMENT_LIMITED_USE) throw new RangeError(`UpdateExtra mode ${mode}`);
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`UpdateExtra value ${value} is not a byte`);
    await this.execute({ opcode: OP_UPDATE_EXTRA, param1: mode, param2: value }, 1);
  }

  /** The raw lock bytes (one 4-byte Read of config word 0x15). */
  async lockBytes(): Promise<LockBytes> {
    const word = await this.read(ZONE_CONFIG, CONFIG_LOCK_WORD, 4);
    const base = CONFIG_LOCK_WORD * 4;
    return { lockValue: word[CONFIG_LOCK_VALUE_BYTE - base], lockConfig: word[CONFIG_LOCK_CONFIG_BYTE - base] };
  }

  async lockState(): Promise<LockState> {
    return lockStateFromBytes(await this.lockBytes());
  }

  async close(): Promise<void> {
    await this.bus.close();
  }
}

/** The 9-byte serial number from a config zone image: bytes 0..3 and 8..12 (datasheet §2.2). */
export function serialFromConfig(config: Uint8Array): Uint8Array {
  return Uint8Array.from([...config.subarray(0, 4), ...config.subarray(8, 13)]);
}

/** A lock byte is locked unless it reads 0x55 (protocol.ts lockByteIsLocked). */
export function lockStateFromBytes(b: LockBytes): LockState {
  return { configLocked: lockByteIsLocked(b.lockConfig), dataLocked: lockByteIsLocked(b.lockValue) };
}

export function lockStateFromConfig(config: Uint8Array): LockState {
  return lockStateFromBytes({ lockValue: config[CONFIG_LOCK_VALUE_BYTE], lockConfig: config[CONFIG_LOCK_CONFIG_BYTE] });
}
