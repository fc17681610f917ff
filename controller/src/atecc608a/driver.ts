// ATECC608A driver over an i2c-bus style bus: wake/idle/sleep, command packets,
// waits of each command's maximum execution time, bounded polling while the chip
// NACKs, response checks, and re-wake before the watchdog puts the chip to sleep.
import { Buffer } from "node:buffer";
import type { Logger } from "../../../runtime/src/index.js";
import { isNack, type I2cBus } from "./bus.js";
import { realClock, type Clock } from "./clock.js";
import { AteccError, NoResponseError, WakeError } from "./errors.js";
import { decodeResponse, encodeCommand, responseLength, type Command } from "./packet.js";
import {
  CONFIG_LOCK_CONFIG_BYTE, CONFIG_LOCK_VALUE_BYTE, CONFIG_LOCK_WORD, CONFIG_ZONE_SIZE, DEFAULT_I2C_ADDRESS, LOCK_LOCKED,
  MAX_EXEC_MS, OP_INFO, OP_LOCK, OP_RANDOM, OP_READ, OP_WRITE, RANDOM_SIZE, RESPONSE_POLL_INTERVAL_MS, RESPONSE_POLL_TRIES,
  T_WHI_MS, WAKE_RESPONSE, WATCHDOG_MS, WORD_ADDRESS_IDLE, WORD_ADDRESS_SLEEP, ZONE_32_BYTES, ZONE_CONFIG,
} from "./protocol.js";

/** The general-call address a wake pulse is written to; nobody ACKs it. */
const WAKE_PULSE_ADDRESS = 0x00;
/** Head-room kept before the watchdog when deciding whether a command still fits (ms). */
const WATCHDOG_MARGIN_MS = 100;
/** Whole-command attempts when the failure is transient (bad CRC, lost sync, NACK). */
const COMMAND_ATTEMPTS = 3;

export interface DriverOptions {
  address?: number;
  clock?: Clock;
  log?: Logger;
  pollTries?: number;
}

export interface LockState {
  configLocked: boolean;
  dataLocked: boolean;
}

export class Atecc608a {
  readonly address: number;
  private readonly clock: Clock;
  private readonly pollTries: number;
  /** When the last wake pulse went out; undefined while the chip is (or may be) idle or asleep. */
  private awakeSince: number | undefined;
  /** After a failure the chip's mode is unknown; an idle before the next wake resynchronises it. */
  private unsure = true;

  constructor(private readonly bus: I2cBus, private readonly opts: DriverOptions = {}) {
    this.address = opts.address ?? DEFAULT_I2C_ADDRESS;
    this.clock = opts.clock ?? realClock;
    this.pollTries = opts.pollTries ?? RESPONSE_POLL_TRIES;
  }

  get awake(): boolean {
    return this.awakeSince !== undefined;
  }

  /** Wake pulse (a write to 0x00 that fails by design), tWHI, then expect 04 11 33 43. */
  async wake(): Promise<void> {
    const started = this.clock.now();
    try {
      await this.bus.i2cWrite(WAKE_PULSE_ADDRESS, 1, Buffer.from([0x00]));
    } catch (err) {
      if (!isNack(err)) throw err;
    }
    await this.clock.sleep(T_WHI_MS);
    const answer = await this.readPolling(WAKE_RESPONSE.length, "wake");
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
    const budget = (MAX_EXEC_MS[opcode] ?? 1) + WATCHDOG_MARGIN_MS;
    if (this.awakeSince !== undefined && this.clock.now() + budget < this.awakeSince + WATCHDOG_MS) return;
    if (this.awakeSince !== undefined || this.unsure) await this.idle();
    await this.wake();
  }

  /** Sends one command and returns its payload, retrying transient failures a bounded number of times. */
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
        await this.clock.sleep(MAX_EXEC_MS[cmd.opcode] ?? 1);
        const raw = await this.readPolling(responseLength(expected), `opcode 0x${cmd.opcode.toString(16)}`);
        return decodeResponse(raw, cmd.opcode, expected);
      } catch (err) {
        const transient = err instanceof AteccError ? err.transient : isNack(err);
        if (transient) {
          this.awakeSince = undefined;
          this.unsure = true;
        }
        if (!transient || attempt >= COMMAND_ATTEMPTS) throw err;
        this.opts.log?.debug("retrying ATECC608A command", { opcode: cmd.opcode, attempt, error: err });
      }
    }
  }

  // While the chip executes it does not ACK its address; poll a bounded number of times.
  private async readPolling(length: number, what: string): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    for (let i = 0; i < this.pollTries; i++) {
      try {
        await this.bus.i2cRead(this.address, length, buf);
        return buf;
      } catch (err) {
        if (!isNack(err)) throw err;
        await this.clock.sleep(RESPONSE_POLL_INTERVAL_MS);
      }
    }
    throw new NoResponseError(`no answer from 0x${this.address.toString(16)} after ${this.pollTries} reads (${what})`);
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

  async lockState(): Promise<LockState> {
    const word = await this.read(ZONE_CONFIG, CONFIG_LOCK_WORD, 4);
    const base = CONFIG_LOCK_WORD * 4;
    return {
      dataLocked: word[CONFIG_LOCK_VALUE_BYTE - base] === LOCK_LOCKED,
      configLocked: word[CONFIG_LOCK_CONFIG_BYTE - base] === LOCK_LOCKED,
    };
  }

  async close(): Promise<void> {
    await this.bus.close();
  }
}

/** The 9-byte serial number from a config zone image: bytes 0..3 and 8..12 (datasheet §2.2). */
export function serialFromConfig(config: Uint8Array): Uint8Array {
  return Uint8Array.from([...config.subarray(0, 4), ...config.subarray(8, 13)]);
}

export function lockStateFromConfig(config: Uint8Array): LockState {
  return {
    configLocked: config[CONFIG_LOCK_CONFIG_BYTE] === LOCK_LOCKED,
    dataLocked: config[CONFIG_LOCK_VALUE_BYTE] === LOCK_LOCKED,
  };
}
