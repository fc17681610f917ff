// The 32 entropy pools of the Fortuna accumulator (Cryptography Engineering
// 9.5). Each pool is a running SHA-256 of the events appended to it, so a
// pool costs a hash state, not a growing buffer.
import { createHash, type Hash } from "node:crypto";

/** 9.5.2: 32 pools P0..P31. */
export const POOL_COUNT = 32;
/** 9.5.6 "AddRandomEvent": an event carries 1..32 bytes of data; longer material is several events. */
export const MAX_EVENT_BYTES = 32;

export class Pools {
  private readonly hashes: Hash[] = Array.from({ length: POOL_COUNT }, () => createHash("sha256"));
  /** 9.5.5: only P0's size is tracked; it gates the reseed. */
  private p0Bytes = 0;

  get pool0Bytes(): number {
    return this.p0Bytes;
  }

  /** 9.5.6 "AddRandomEvent": appends source || length || data to pool i. */
  add(pool: number, source: number, data: Uint8Array): void {
    if (!Number.isInteger(pool) || pool < 0 || pool >= POOL_COUNT) throw new RangeError(`pool must be 0..${POOL_COUNT - 1}, got ${pool}`);
    if (!Number.isInteger(source) || source < 0 || source > 255) throw new RangeError(`source must be 0..255, got ${source}`);
    if (data.length < 1 || data.length > MAX_EVENT_BYTES) throw new RangeError(`event data must be 1..${MAX_EVENT_BYTES} bytes, got ${data.length}`);
    this.hashes[pool].update(Uint8Array.of(source, data.length)).update(data);
    if (pool === 0) this.p0Bytes += 2 + data.length;
  }

  /**
   * Empties pool i and returns SHA-256 of its content; SHAd256 of the content
   * is then one more SHA-256 of this (9.5.5 "RandomData").
   */
  drain(pool: number): Buffer {
    const digest = this.hashes[pool].digest();
    this.hashes[pool] = createHash("sha256");
    if (pool === 0) this.p0Bytes = 0;
    return digest;
  }
}
