// The Fortuna accumulator (Cryptography Engineering 9.5; fortuna.md,
// "Accumulator"): events spread over 32 pools, and a reseed from the pools,
// decided on each request for random data, when P0 holds enough and the last
// reseed is at least 100 ms old.
import { createHash } from "node:crypto";
import { FortunaGenerator, MAX_REQUEST_BYTES, NotSeededError } from "./generator.js";
import { MAX_EVENT_BYTES, POOL_COUNT, Pools } from "./pools.js";

/** 9.5.5: P0 must have seen at least MinPoolSize = 64 bytes before a reseed. */
export const MIN_POOL_SIZE = 64;
/** 9.5.5: at most one reseed every 100 ms. */
export const RESEED_INTERVAL_MS = 100;

export interface AccumulatorStats {
  seeded: boolean;
  /** Every reseed of the generator: from the pools and from direct seeds. */
  reseedCount: bigint;
  /** Reseeds from the pools only (ReseedCnt of 9.5.4, which selects the pools). */
  poolReseedCount: bigint;
  /** Milliseconds since the epoch of the last reseed, undefined before the first. */
  lastReseedAt: number | undefined;
  bytesGenerated: bigint;
  requestsServed: bigint;
  pool0Bytes: number;
  poolCount: number;
}

export class Accumulator {
  readonly generator = new FortunaGenerator();
  private readonly pools = new Pools();
  private poolReseeds = 0n;
  private reseeds = 0n;
  private lastReseedAt: number | undefined;
  private bytesGenerated = 0n;
  private requestsServed = 0n;
  /** 9.5.6: each source writes its events to the pools in turn. */
  private readonly nextPool = new Map<number, number>();

  constructor(private readonly now: () => number = Date.now) {}

  get seeded(): boolean {
    return this.generator.seeded;
  }

  /** 9.5.6 "AddRandomEvent": one event (1..32 bytes) from `source` into that source's next pool. */
  addRandomEvent(source: number, data: Uint8Array): void {
    const pool = this.nextPool.get(source) ?? 0;
    this.pools.add(pool, source, data);
    this.nextPool.set(source, (pool + 1) % POOL_COUNT);
  }

  /** Seed material of any length, as successive events of at most 32 bytes. */
  addSeed(source: number, seed: Uint8Array): void {
    for (let i = 0; i < seed.length; i += MAX_EVENT_BYTES) this.addRandomEvent(source, seed.subarray(i, i + MAX_EVENT_BYTES));
  }

  /**
   * Reseeds the generator straight from `seed`, as the seed file does at
   * start-up (9.6.1): used for the service's first seed, so it serves at once.
   */
  seedDirect(seed: Uint8Array): void {
    this.generator.reseed(seed);
    this.reseeds++;
    this.lastReseedAt = this.now();
  }

  /** 9.5.5: reseeds from the pools when P0 is full enough and 100 ms have passed. */
  maybeReseed(): boolean {
    const now = this.now();
    if (this.pools.pool0Bytes < MIN_POOL_SIZE) return false;
    if (this.lastReseedAt !== undefined && now - this.lastReseedAt < RESEED_INTERVAL_MS) return false;
    this.poolReseeds++;
    // Pool i takes part when 2^i divides the reseed number r.
    const parts: Buffer[] = [];
    for (let i = 0; i < POOL_COUNT && this.poolReseeds % (1n << BigInt(i)) === 0n; i++) {
      parts.push(createHash("sha256").update(this.pools.drain(i)).digest());
    }
    this.generator.reseed(Buffer.concat(parts));
    this.reseeds++;
    this.lastReseedAt = now;
    return true;
  }

  /** 9.5.5 "RandomData": reseed check, then n bytes as successive requests of at most 2^20 bytes. */
  randomData(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`randomData: n must be a non-negative integer, got ${n}`);
    this.maybeReseed();
    if (!this.generator.seeded) throw new NotSeededError();
    let out: Uint8Array;
    if (n <= MAX_REQUEST_BYTES) {
      out = this.generator.pseudoRandomData(n);
    } else {
      const parts: Uint8Array[] = [];
      for (let left = n; left > 0; left -= MAX_REQUEST_BYTES) parts.push(this.generator.pseudoRandomData(Math.min(left, MAX_REQUEST_BYTES)));
      out = Buffer.concat(parts);
    }
    this.bytesGenerated += BigInt(n);
    this.requestsServed++;
    return out;
  }

  stats(): AccumulatorStats {
    return {
      seeded: this.generator.seeded,
      reseedCount: this.reseeds,
      poolReseedCount: this.poolReseeds,
      lastReseedAt: this.lastReseedAt,
      bytesGenerated: this.bytesGenerated,
      requestsServed: this.requestsServed,
      pool0Bytes: this.pools.pool0Bytes,
      poolCount: POOL_COUNT,
    };
  }
}
