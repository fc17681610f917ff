// CRC-16 of the ATECC608A I/O protocol (datasheet §6.2; docs/reference/atecc608a.md "CRC-16"):
// polynomial 0x8005, initial value 0, no final XOR, each byte fed least significant
// bit first into an MSB-first register, result sent low byte first.
const POLYNOMIAL = 0x8005;

/** The CRC of `data` as the two bytes that go on the wire (low byte first). */
export function crc16(data: Uint8Array): Uint8Array {
  let crc = 0;
  for (const byte of data) {
    for (let bit = 0; bit < 8; bit++) {
      const feedback = ((byte >> bit) & 1) ^ (crc >> 15);
      crc = (crc << 1) & 0xffff;
      if (feedback) crc ^= POLYNOMIAL;
    }
  }
  return Uint8Array.of(crc & 0xff, crc >> 8);
}

/** The CRC as a 16-bit number (for the Lock command's param2). */
export function crc16Value(data: Uint8Array): number {
  const c = crc16(data);
  return c[0] | (c[1] << 8);
}
