// Version 4 UUIDs (RFC 9562 section 5.4) from queued random bytes: 122 random
// bits with the version and variant fields overwritten.
export const UUID_BYTES = 16;

/** RFC 9562 section 4.2: version 4 in the high nibble of octet 6. */
const VERSION_4 = 0x40;
/** RFC 9562 section 4.1: variant 10xx in the high bits of octet 8. */
const VARIANT_RFC = 0x80;

export function uuidV4(bytes: Uint8Array, at = 0): string {
  const b = Uint8Array.from(bytes.subarray(at, at + UUID_BYTES));
  if (b.length !== UUID_BYTES) throw new RangeError(`a UUID needs ${UUID_BYTES} bytes`);
  b[6] = (b[6] & 0x0f) | VERSION_4;
  b[8] = (b[8] & 0x3f) | VARIANT_RFC;
  const h = Buffer.from(b).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function uuidsV4(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at + UUID_BYTES <= bytes.length; at += UUID_BYTES) out.push(uuidV4(bytes, at));
  return out;
}
