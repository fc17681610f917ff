// How random bytes become values for POST /api/v1/data: fixed-width,
// big-endian, signed formats as two's complement. The RPC carries the values
// as repeated (s|u)int64 and the REST layer writes a bare JSON array; both are
// read from the same bytes by the functions below so they cannot drift apart.
import { Format } from "../../gen/lokey/v1/gateway_pb.js";

export interface FormatInfo {
  /** Bytes per value (1 for binary: `limit` counts bytes). */
  size: 1 | 2 | 4 | 8;
  signed: boolean;
  binary: boolean;
}

const info = (size: FormatInfo["size"], signed: boolean, binary = false): FormatInfo => ({ size, signed, binary });

const FORMATS: Record<Exclude<Format, Format.UNSPECIFIED>, FormatInfo> = {
  [Format.INT8]: info(1, true),
  [Format.INT16]: info(2, true),
  [Format.INT32]: info(4, true),
  [Format.INT64]: info(8, true),
  [Format.UINT8]: info(1, false),
  [Format.UINT16]: info(2, false),
  [Format.UINT32]: info(4, false),
  [Format.UINT64]: info(8, false),
  [Format.BINARY]: info(1, false, true),
};

/** The layout of a format the rules let through (`format` is required, so never FORMAT_UNSPECIFIED). */
export function formatInfo(format: Format): FormatInfo {
  return FORMATS[format as Exclude<Format, Format.UNSPECIFIED>];
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Reads value `i` as a JS number (sizes up to 4) or bigint (size 8). */
function reader(f: FormatInfo, bytes: Uint8Array): (i: number) => number | bigint {
  const dv = view(bytes);
  switch (f.size) {
    case 1:
      return f.signed ? (i) => dv.getInt8(i) : (i) => dv.getUint8(i);
    case 2:
      return f.signed ? (i) => dv.getInt16(i * 2) : (i) => dv.getUint16(i * 2);
    case 4:
      return f.signed ? (i) => dv.getInt32(i * 4) : (i) => dv.getUint32(i * 4);
    case 8:
      return f.signed ? (i) => dv.getBigInt64(i * 8) : (i) => dv.getBigUint64(i * 8);
  }
}

function count(f: FormatInfo, bytes: Uint8Array): number {
  if (bytes.length % f.size !== 0) throw new Error(`${bytes.length} bytes are not a whole number of ${f.size}-byte values`);
  return bytes.length / f.size;
}

/** The values as bigints, for the RPC's repeated 64-bit fields. */
export function decodeValues(f: FormatInfo, bytes: Uint8Array): bigint[] {
  const read = reader(f, bytes);
  const n = count(f, bytes);
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) out[i] = BigInt(read(i));
  return out;
}

/**
 * The values as a bare JSON array text. 64-bit values are written from
 * bigints, so they stay exact integers (JSON.stringify would refuse them and
 * a double would round them).
 */
export function valuesJson(f: FormatInfo, bytes: Uint8Array): string {
  const n = count(f, bytes);
  if (n === 0) return "[]";
  // One byte per value (the common request, a key): the bytes themselves, no DataView.
  if (f.size === 1) {
    const at = f.signed ? (i: number) => (bytes[i] << 24) >> 24 : (i: number) => bytes[i];
    let out = "[" + at(0);
    for (let i = 1; i < n; i++) out += "," + at(i);
    return out + "]";
  }
  const read = reader(f, bytes);
  let out = "[" + String(read(0));
  for (let i = 1; i < n; i++) out += "," + String(read(i));
  return out + "]";
}
