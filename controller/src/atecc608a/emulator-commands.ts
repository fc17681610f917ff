// What each command the emulator models does to the chip's state: the config
// zone, its lock bytes, UpdateExtra, Random (with the unlocked chip's test
// pattern and the fault switches) and Info. Bus behaviour (wake, NACKs,
// timing, the watchdog) is emulator.ts's. Protocol facts: docs/reference/atecc608a.md.
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
import { randomBytes } from "node:crypto";
import { crc16Value } from "./crc.js";
import type { Command } from "./packet.js";
import {
  CONFIG_AES_ENABLE_BYTE, CONFIG_I2C_ENABLE_BYTE, CONFIG_LOCK_CONFIG_BYTE, CONFIG_LOCK_VALUE_BYTE, CONFIG_LOCK_WORD,
  CONFIG_USER_EXTRA_ADD_BYTE, CONFIG_USER_EXTRA_BYTE, CONFIG_WRITABLE_FROM, LOCK_LOCKED, LOCK_UNLOCKED, OP_INFO, OP_LOCK,
  OP_RANDOM, OP_READ, OP_UPDATE_EXTRA, OP_WRITE, RANDOM_SIZE, REVISION_608A, STATUS_EXECUTION_ERROR, STATUS_PARSE_ERROR,
  STATUS_SUCCESS, UNLOCKED_TEST_PATTERN, UPDATE_EXTRA_DECREMENT_LIMITED_USE, UPDATE_EXTRA_USER_EXTRA,
  UPDATE_EXTRA_USER_EXTRA_ADD, ZONE_32_BYTES, ZONE_CONFIG, lockByteIsLocked,
} from "./protocol.js";

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

/** The state commands act on. */
export interface ChipState {
  readonly config: Uint8Array;
  faults: EmulatorFaults;
  readonly stats: { randoms: number };
}

/** The config byte each UpdateExtra mode writes (datasheet "UpdateExtra Command"). */
const UPDATE_EXTRA_TARGET_BYTE: Readonly<Record<number, number>> = {
  [UPDATE_EXTRA_USER_EXTRA]: CONFIG_USER_EXTRA_BYTE,
  [UPDATE_EXTRA_USER_EXTRA_ADD]: CONFIG_USER_EXTRA_ADD_BYTE,
};

/**
 * Factory state (datasheet §2.2 "Configuration Zone"): serial 01 23 .. EE in bytes 0..3 and
 * 8..12, revision 00 00 60 02, AES_Enable 0x01 (byte 13), I2C_Enable 0x01 (byte 14: an I2C
 * part), reserved byte 15 0x00 (bytes 12..15 EE 01 01 00 as in cryptoauthlib's ATECC608
 * images), the I2C address, UserExtra and UserExtraAdd 0x00, both zones unlocked.
 */
export function factoryConfig(config: Uint8Array, address: number, serial?: Uint8Array): void {
  if (serial && serial.length !== 9) throw new RangeError(`serial: 9 bytes, got ${serial.length}`);
  const sn = serial ?? Uint8Array.from([0x01, 0x23, ...randomBytes(6), 0xee]);
  config.set([...sn.subarray(0, 4), 0x00, 0x00, REVISION_608A, 0x02, ...sn.subarray(4, 9)]);
  config[CONFIG_AES_ENABLE_BYTE] = 0x01;
  config[CONFIG_I2C_ENABLE_BYTE] = 0x01;
  config[15] = 0x00;
  config[16] = address << 1;
  config[CONFIG_LOCK_VALUE_BYTE] = LOCK_UNLOCKED;
  config[CONFIG_LOCK_CONFIG_BYTE] = LOCK_UNLOCKED;
}

/**
 * What `cmd` does to `chip`, and the response payload: data, or a one-byte
 * status (docs/reference/atecc608a.md, "Status codes").
 */
export function executeCommand(chip: ChipState, cmd: Command): number[] | Uint8Array {
  const data = cmd.data ?? new Uint8Array(0);
  // Whatever is not the documented unlocked value 0x55 counts as locked, as the driver reads it.
  const configLocked = lockByteIsLocked(chip.config[CONFIG_LOCK_CONFIG_BYTE]);
  switch (cmd.opcode) {
    case OP_RANDOM:
      if (cmd.param1 > 1 || data.length !== 0) return [STATUS_PARSE_ERROR];
      chip.stats.randoms++;
      return configLocked ? randomOutput(chip.faults) : UNLOCKED_TEST_PATTERN.slice();
    case OP_INFO:
      if (cmd.param1 !== 0x00) return [STATUS_PARSE_ERROR];
      return [0x00, 0x00, REVISION_608A, 0x02];
    case OP_READ: {
      if ((cmd.param1 & 0x03) !== ZONE_CONFIG) return [STATUS_EXECUTION_ERROR];
      const wide = (cmd.param1 & ZONE_32_BYTES) !== 0;
      const word = cmd.param2 & 0x1f;
      if (wide && (word & 0x07) !== 0) return [STATUS_PARSE_ERROR];
      return chip.config.slice(word * 4, word * 4 + (wide ? 32 : 4));
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
      chip.config.set(data, first);
      return [STATUS_SUCCESS];
    }
    case OP_LOCK: {
      const zone = cmd.param1 & 0x03;
      const checkCrc = (cmd.param1 & 0x80) === 0;
      if (zone === 0) {
        if (configLocked) return [STATUS_EXECUTION_ERROR];
        if (checkCrc && crc16Value(chip.config) !== cmd.param2) return [STATUS_EXECUTION_ERROR];
        chip.config[CONFIG_LOCK_CONFIG_BYTE] = LOCK_LOCKED;
        return [STATUS_SUCCESS];
      }
      if (zone === 1) {
        if (!configLocked || lockByteIsLocked(chip.config[CONFIG_LOCK_VALUE_BYTE])) return [STATUS_EXECUTION_ERROR];
        chip.config[CONFIG_LOCK_VALUE_BYTE] = LOCK_LOCKED;
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
      if (chip.config[at] !== 0x00) return [STATUS_EXECUTION_ERROR];
      chip.config[at] = cmd.param2 & 0xff;
      return [STATUS_SUCCESS];
    }
    default:
      return [STATUS_PARSE_ERROR];
  }
}

/** Random's 32 bytes, as the faults say. */
function randomOutput(faults: EmulatorFaults): Uint8Array {
  const { stuck, bias } = faults;
  if (stuck !== undefined) return new Uint8Array(RANDOM_SIZE).fill(stuck);
  if (bias !== undefined) {
    const out = new Uint8Array(RANDOM_SIZE);
    for (let i = 0; i < RANDOM_SIZE; i++) for (let b = 0; b < 8; b++) if (Math.random() < bias) out[i] |= 1 << b;
    return out;
  }
  return new Uint8Array(randomBytes(RANDOM_SIZE));
}
