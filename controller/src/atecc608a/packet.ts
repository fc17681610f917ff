// Command and response packets (datasheet §6.2 "I/O Blocks"; docs/reference/atecc608a.md
// "Command packet" and "Response").
import { crc16 } from "./crc.js";
import { ResponseCountError, ResponseCrcError, statusError } from "./errors.js";
import { STATUS_SUCCESS, WORD_ADDRESS_COMMAND } from "./protocol.js";

export interface Command {
  opcode: number;
  param1: number;
  param2: number;
  data?: Uint8Array;
}

/** Bytes of a command write, word address included: 03 count opcode p1 p2lo p2hi data.. crclo crchi. */
export function encodeCommand(cmd: Command): Uint8Array {
  const data = cmd.data ?? new Uint8Array(0);
  const count = 7 + data.length;
  const out = new Uint8Array(1 + count);
  out[0] = WORD_ADDRESS_COMMAND;
  out[1] = count;
  out[2] = cmd.opcode;
  out[3] = cmd.param1;
  out[4] = cmd.param2 & 0xff;
  out[5] = (cmd.param2 >> 8) & 0xff;
  out.set(data, 6);
  out.set(crc16(out.subarray(1, count - 1)), count - 1);
  return out;
}

/** Parses what the chip sent; the inverse of encodeCommand (for the emulator). Undefined if malformed. */
export function decodeCommand(bytes: Uint8Array): { cmd: Command; crcOk: boolean } | undefined {
  const count = bytes[0];
  if (bytes.length < 7 || count !== bytes.length) return undefined;
  const crc = crc16(bytes.subarray(0, count - 2));
  return {
    cmd: { opcode: bytes[1], param1: bytes[2], param2: bytes[3] | (bytes[4] << 8), data: bytes.slice(5, count - 2) },
    crcOk: crc[0] === bytes[count - 2] && crc[1] === bytes[count - 1],
  };
}

/** A response packet: count, payload, CRC. */
export function encodeResponse(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 3);
  out[0] = out.length;
  out.set(payload, 1);
  out.set(crc16(out.subarray(0, out.length - 2)), out.length - 2);
  return out;
}

/** Bytes to read for a response with `payloadLength` bytes of data. */
export function responseLength(payloadLength: number): number {
  return payloadLength + 3;
}

/**
 * Checks count and CRC, maps a status packet to its typed error, and returns the
 * payload. `expected` is the payload length of a successful data answer (1 for
 * commands that answer only a status).
 */
export function decodeResponse(buf: Uint8Array, opcode: number, expected: number): Uint8Array {
  const count = buf[0];
  if (count !== 4 && count !== expected + 3) {
    throw new ResponseCountError(`response count ${count} for opcode 0x${opcode.toString(16)} (expected ${expected + 3} or 4)`);
  }
  if (count > buf.length) throw new ResponseCountError(`response count ${count} exceeds the ${buf.length} bytes read`);
  const crc = crc16(buf.subarray(0, count - 2));
  if (crc[0] !== buf[count - 2] || crc[1] !== buf[count - 1]) {
    throw new ResponseCrcError(`response CRC mismatch for opcode 0x${opcode.toString(16)}`);
  }
  if (count === 4 && expected !== 1) throw statusError(buf[1], opcode);
  if (count === 4 && buf[1] !== STATUS_SUCCESS) throw statusError(buf[1], opcode);
  return new Uint8Array(buf.subarray(1, count - 2));
}
