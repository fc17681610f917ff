// The config zone image written by the one-time configuration: Microchip's
// standard TLS configuration as used by Adafruit's ATECC library, which the seed
// design follows. Bytes 0..15 are read-only on the chip (left as the factory
// wrote them); bytes 84..87 cannot be written with Write (lock bytes).
// Layout per datasheet §2.2 "Configuration Zone".
const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));

export const TLS_CONFIG_TEMPLATE: Uint8Array = hex(`
  01 23 00 00  00 00 50 00  00 00 00 00 00  c0 71 00
  c0 00 55 00
  83 20 87 20 87 20 87 2f 87 2f 8f 8f 9f 8f af 8f
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 af 8f
  ff ff ff ff 00 00 00 00
  ff ff ff ff 00 00 00 00
  ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff
  00 00 55 55
  ff ff 00 00
  00 00 00 00
  33 00 33 00 33 00 33 00 33 00 1c 00 1c 00 1c 00
  3c 00 3c 00 3c 00 3c 00 3c 00 3c 00 3c 00 1c 00
`);

if (TLS_CONFIG_TEMPLATE.length !== 128) throw new Error(`TLS template is ${TLS_CONFIG_TEMPLATE.length} bytes, expected 128`);
