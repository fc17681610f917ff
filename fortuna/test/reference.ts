// An independent, deliberately slow model of the published Fortuna generator
// (docs/reference/fortuna.md): one AES-256-ECB call per block on a hand-written little-endian
// counter, SHA-256 twice for SHAd256. Tests compare the fast code with it.
import { createCipheriv, createHash } from "node:crypto";

export const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
export const shad256 = (...parts: Uint8Array[]): Buffer => sha256(sha256(...parts));

/** The 16-byte AES input for counter c: byte 0 least significant. */
export function counterBlockLE(c: bigint): Buffer {
  const b = Buffer.alloc(16);
  let v = c;
  for (let i = 0; i < 16; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

export function aesBlock(key: Uint8Array, input: Uint8Array): Buffer {
  const c = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false);
  return Buffer.concat([c.update(input), c.final()]);
}

export interface RefState {
  key: Buffer;
  counter: bigint;
}

export function refReseed(s: RefState, seed: Uint8Array): RefState {
  return { key: shad256(s.key, seed), counter: s.counter + 1n };
}

/** PseudoRandomData(n) of the published design, block by block. */
export function refPseudoRandom(s: RefState, n: number): { out: Buffer; state: RefState } {
  let c = s.counter;
  // ECB encrypts each 16-byte block on its own: one cipher, one update per block.
  const aes = createCipheriv("aes-256-ecb", s.key, null).setAutoPadding(false);
  const block = () => aes.update(counterBlockLE(c++));
  const blocks: Buffer[] = [];
  for (let i = 0; i < Math.ceil(n / 16); i++) blocks.push(block());
  const out = Buffer.concat(blocks).subarray(0, n);
  const key = Buffer.concat([block(), block()]);
  return { out, state: { key, counter: c } };
}
