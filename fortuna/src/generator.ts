// The Fortuna generator (Ferguson, Schneier, Kohno: Cryptography Engineering,
// 9.4), bit for bit with the conventions in docs/reference/fortuna.md: AES-256 over a 128-bit
// little-endian block counter, SHAd256 reseeding, and a rekey after every request.
import { createHash } from "node:crypto";
import { COUNTER_MASK, REKEY_BLOCKS, portableGenerateBlocks, type GenerateBlocks } from "./counter-blocks.js";
import { nativeBlocks, nativeBlocksError } from "./native-blocks.js";

// AES block and key sizes (FIPS 197, 3.1 / 5).
const BLOCK_BYTES = 16;
const KEY_BYTES = 32;
/** Largest single request: 2^20 bytes (Cryptography Engineering 9.4.4, "PseudoRandomData"). */
export const MAX_REQUEST_BYTES = 1 << 20;

/** SHAd256(x) = SHA-256(SHA-256(x)) (Cryptography Engineering 6.3.1; docs/reference/fortuna.md). */
export function shad256(...parts: Uint8Array[]): Buffer {
  const inner = createHash("sha256");
  for (const p of parts) inner.update(p);
  const h = inner.digest();
  const out = createHash("sha256").update(h).digest();
  // SHA-256(x) gives the result as surely as x does: when x holds a key, so
  // does this, and it is not left behind (Cryptography Engineering ch. 8,
  // "Wiping State"). The hash objects' own copies inside node:crypto cannot be
  // reached from JavaScript and go when they are collected.
  h.fill(0);
  return out;
}

export class NotSeededError extends Error {
  constructor() {
    super("Fortuna is not seeded yet");
    this.name = "NotSeededError";
  }
}

/**
 * How the AES blocks are made; both give the same bytes. "native" (the default
 * when `npm install` built it) encrypts into the output buffer; "portable" is
 * plain node:crypto and costs a pass over a buffer of counter blocks.
 */
export type BlockEngine = "native" | "portable";

function nativeGenerateBlocks(): GenerateBlocks {
  const native = nativeBlocks;
  if (!native) throw new Error(`the native Fortuna block generator is not built (${nativeBlocksError}); run npm install`);
  return (key, counter, blocks, into) => {
    // An ArrayBuffer of its own: a pooled slice would share memory with other buffers.
    const out = into ?? Buffer.allocUnsafeSlow(blocks * BLOCK_BYTES);
    native.generateBlocks(key, counter, out);
    return out;
  };
}

/**
 * One buffer that successive outputs are written into, for a caller that is
 * done with each output before it asks for the next (StreamRandom, whose
 * transport has serialized a message, copying it, before the stream asks for
 * another): no allocation per output, and no output left behind in freed
 * memory. wipe() when done with it.
 */
export class OutputBuffer {
  private buf = Buffer.alloc(0);

  /** `bytes` of its memory, grown when short. */
  blocks(bytes: number): Buffer {
    if (this.buf.length < bytes) {
      this.wipe();
      this.buf = Buffer.allocUnsafeSlow(bytes);
    }
    return this.buf.subarray(0, bytes);
  }

  wipe(): void {
    this.buf.fill(0);
  }
}

export class FortunaGenerator {
  // 9.4.1: K starts as 32 zero bytes and C as 0; C = 0 means "not seeded".
  private readonly k = Buffer.alloc(KEY_BYTES);
  private c = 0n;
  readonly engine: BlockEngine;
  private readonly generateBlocks: GenerateBlocks;

  constructor(options: { engine?: BlockEngine } = {}) {
    this.engine = options.engine ?? (nativeBlocks ? "native" : "portable");
    this.generateBlocks = this.engine === "native" ? nativeGenerateBlocks() : portableGenerateBlocks();
  }

  /** A copy of the current key (inspection and tests only). */
  get key(): Uint8Array {
    return Uint8Array.from(this.k);
  }

  get counter(): bigint {
    return this.c;
  }

  get seeded(): boolean {
    return this.c !== 0n;
  }

  /**
   * 9.4.2 "Reseed": K = SHAd256(K || s); C = C + 1. The new key overwrites
   * the old in place, and the digest it came in is wiped: K is the only copy
   * we keep (the caller owns s and wipes it).
   */
  reseed(seed: Uint8Array): void {
    const next = shad256(this.k, seed);
    this.k.set(next);
    next.fill(0);
    this.c = (this.c + 1n) & COUNTER_MASK;
  }

  /**
   * 9.4.4 "PseudoRandomData": the first n bytes of ceil(n/16) blocks, then a
   * rekey from two more blocks, so the state no longer reveals what was returned.
   * With `into`, the bytes are written into its memory (and overwritten by its
   * next use) instead of a new buffer.
   */
  pseudoRandomData(n: number, into?: OutputBuffer): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > MAX_REQUEST_BYTES) {
      throw new RangeError(`pseudoRandomData: n must be an integer from 0 to ${MAX_REQUEST_BYTES}, got ${n}`);
    }
    if (this.c === 0n) throw new NotSeededError();
    const blocks = Math.ceil(n / BLOCK_BYTES);
    // 9.4.3 "GenerateBlocks" for the output, then two more blocks as the new key.
    const out = this.generateBlocks(this.k, this.c, blocks, into?.blocks(blocks * BLOCK_BYTES));
    this.c = (this.c + BigInt(blocks + REKEY_BLOCKS)) & COUNTER_MASK;
    // Output past n (the rest of the last block) is discarded by the design; wipe it.
    if (out.length > n) out.fill(0, n);
    return out.subarray(0, n);
  }
}
