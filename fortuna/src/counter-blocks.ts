// The portable GenerateBlocks, in plain node:crypto: the AES inputs of one
// generator request are k consecutive values of the 128-bit block counter, each
// written little-endian (docs/reference/fortuna.md, "Counter encoding"). OpenSSL's CTR mode
// counts big-endian, so we cannot use it; we encrypt these blocks with AES-ECB
// instead, which gives the same bytes the published block-by-block loop gives.
// The native path (native-blocks.ts) does the same without the buffer pass.
//
// Building 2^16 blocks per request must stay cheap next to the AES itself.
// The buffer is reused: its upper 96 bits per block are written once and kept
// while they stay valid (they change only when the low 32 bits wrap, once per
// 2^32 blocks), so a request rewrites one 32-bit word per block.

import { createCipheriv } from "node:crypto";

const BLOCK_BYTES = 16;
// Cryptography Engineering 9.4.4: the new key is the next two blocks.
export const REKEY_BLOCKS = 2;
const LOW_WORD = 0x1_0000_0000n;
// The counter is 128 bits wide (docs/reference/fortuna.md, "Generator"): arithmetic is modulo 2^128.
export const COUNTER_MASK = (1n << 128n) - 1n;

/**
 * GenerateBlocks and the rekey of 9.4.3-9.4.4: returns AES-256(K, C..C+blocks-1)
 * and replaces key with the next two blocks, in place. With `into` (exactly
 * blocks x 16 bytes) the output is written there and `into` returned.
 */
export type GenerateBlocks = (key: Buffer, counter: bigint, blocks: number, into?: Buffer) => Buffer;

export function portableGenerateBlocks(): GenerateBlocks {
  const inputs = new CounterBlocks();
  return (key, counter, blocks, into) => {
    // One ECB pass computes all the output blocks. The two rekey blocks go
    // through a second call, so the caller's buffer never holds the new key.
    // ECB without padding keeps nothing back, so no final() is needed.
    const cipher = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false);
    const all = inputs.blocks(counter, blocks + REKEY_BLOCKS);
    const out = cipher.update(all.subarray(0, blocks * BLOCK_BYTES));
    // 9.4.4: the new key replaces the old one in place, and the buffer it
    // arrived in is wiped, so no copy of either key stays in our buffers. The
    // cipher keeps its own copy of the old key inside OpenSSL, which
    // JavaScript cannot reach; it goes when the cipher is collected.
    const next = cipher.update(all.subarray(blocks * BLOCK_BYTES));
    key.set(next);
    next.fill(0);
    if (!into) return out;
    // node:crypto only returns fresh buffers: copy, and wipe the fresh one.
    into.set(out);
    out.fill(0);
    return into;
  };
}

export class CounterBlocks {
  private buf: Buffer;
  private words: Int32Array;
  /** Counter >> 32 whose bytes 4..15 fill the first `highBlocks` blocks, or undefined. */
  private high: bigint | undefined;
  private highBlocks = 0;

  constructor(initialBlocks = 0) {
    this.buf = Buffer.alloc(initialBlocks * BLOCK_BYTES);
    this.words = new Int32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length / 4);
  }

  /** The blocks LE(counter), LE(counter+1), ..., LE(counter+k-1); valid until the next call. */
  blocks(counter: bigint, k: number): Buffer {
    this.reserve(k);
    const lo = Number(counter & (LOW_WORD - 1n));
    const high = counter >> 32n;
    const words = this.words;
    if (lo + k <= 2 ** 32) {
      if (this.high !== high || this.highBlocks < k) this.fillHigh(high, k);
      writeLowWords(words, lo | 0, k);
    } else {
      // The low word wraps inside this request: write every block in full.
      for (let i = 0; i < k; i++) this.writeFull(i, counter + BigInt(i));
      this.high = undefined;
      this.highBlocks = 0;
    }
    return this.buf.subarray(0, k * BLOCK_BYTES);
  }

  private reserve(k: number): void {
    if (this.buf.length >= k * BLOCK_BYTES) return;
    this.buf = Buffer.alloc(k * BLOCK_BYTES);
    this.words = new Int32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length / 4);
    this.high = undefined;
    this.highBlocks = 0;
  }

  private fillHigh(high: bigint, k: number): void {
    const n = this.buf.length / BLOCK_BYTES;
    this.writeFull(0, high << 32n);
    // Doubling copies: bytes 4..15 are the same in every block.
    let filled = 1;
    while (filled < n) {
      const m = Math.min(filled, n - filled);
      this.buf.copy(this.buf, filled * BLOCK_BYTES, 0, m * BLOCK_BYTES);
      filled += m;
    }
    this.high = high;
    this.highBlocks = Math.max(n, k);
  }

  private writeFull(i: number, counter: bigint): void {
    const o = i * BLOCK_BYTES;
    const value = counter & COUNTER_MASK;
    this.buf.writeBigUInt64LE(value & 0xffff_ffff_ffff_ffffn, o);
    this.buf.writeBigUInt64LE(value >> 64n, o + 8);
  }
}

/**
 * The hot loop: one 32-bit store per block (word 0 of each 16-byte block), in
 * int32 arithmetic so V8 keeps every value unboxed (the stored bit pattern is
 * the same as the unsigned one). Unrolled by eight: the plain loop spent more
 * time on its own bookkeeping than on the stores (~100 µs per MiB against ~40).
 */
function writeLowWords(words: Int32Array, base: number, k: number): void {
  const end = k * 4;
  let v = base;
  let w = 0;
  for (; w + 32 <= end; w += 32, v = (v + 8) | 0) {
    words[w] = v;
    words[w + 4] = (v + 1) | 0;
    words[w + 8] = (v + 2) | 0;
    words[w + 12] = (v + 3) | 0;
    words[w + 16] = (v + 4) | 0;
    words[w + 20] = (v + 5) | 0;
    words[w + 24] = (v + 6) | 0;
    words[w + 28] = (v + 7) | 0;
  }
  for (; w < end; w += 4, v = (v + 1) | 0) words[w] = v;
}
