// The Fortuna accumulator (Cryptography Engineering 9.5; docs/reference/fortuna.md,
// "Accumulator"): events spread over 32 pools, and a reseed from the pools,
// decided on each request for random data, when P0 holds enough and the last
// reseed is at least 100 ms old.
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { FortunaGenerator, MAX_REQUEST_BYTES, NotSeededError, type OutputBuffer } from "./generator.js";
import { MAX_EVENT_BYTES, POOL_COUNT, Pools } from "./pools.js";

/** 9.5.5: P0 must have seen at least MinPoolSize = 64 bytes before a reseed. */
export const MIN_POOL_SIZE = 64;
/** 9.5.5: at most one reseed every 100 ms. */
export const RESEED_INTERVAL_MS = 100;

/**
 * Where the accumulator's time comes from; tests inject their own. Two clocks,
 * because the wall clock can step (NTP, an operator, a board without an RTC
 * setting its clock after boot): a step back would hold off every reseed for
 * as long as the step, so the 100 ms rule and every age are measured on the
 * monotonic clock, and the wall clock is only shown.
 */
export interface Clock {
  /** Milliseconds since the epoch, for display: the RFC 3339 `last_reseed`. */
  wall(): number;
  /** Milliseconds from an arbitrary origin, never going back: the 100 ms rule, seed age. */
  monotonic(): number;
}

export const systemClock: Clock = { wall: () => Date.now(), monotonic: () => performance.now() };

export interface AccumulatorStats {
  seeded: boolean;
  /** Every reseed of the generator: from the pools and from direct seeds. */
  reseedCount: bigint;
  /** Reseeds from the pools only (ReseedCnt of 9.5.4, which selects the pools). */
  poolReseedCount: bigint;
  /** Wall-clock milliseconds since the epoch of the last reseed, undefined before the first (display only). */
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
  /** The last reseed on the wall clock (shown) and on the monotonic clock (the rules). */
  private lastReseedAt: number | undefined;
  private lastReseedMono: number | undefined;
  private bytesGenerated = 0n;
  private requestsServed = 0n;
  /** 9.5.6: each source writes its events to the pools in turn. */
  private readonly nextPool = new Map<number, number>();

  constructor(private readonly clock: Clock = systemClock) {}

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
    this.reseeded(this.clock.monotonic());
  }

  /** 9.5.5: reseeds from the pools when P0 is full enough and 100 ms (monotonic) have passed. */
  maybeReseed(): boolean {
    if (this.pools.pool0Bytes < MIN_POOL_SIZE) return false;
    const now = this.clock.monotonic();
    if (this.lastReseedMono !== undefined && now - this.lastReseedMono < RESEED_INTERVAL_MS) return false;
    this.poolReseeds++;
    // Pool i takes part when 2^i divides the reseed number r; its share of the
    // seed is SHAd256 of its content, the pool's SHA-256 hashed once more.
    const parts: Buffer[] = [];
    for (let i = 0; i < POOL_COUNT && this.poolReseeds % (1n << BigInt(i)) === 0n; i++) {
      const inner = this.pools.drain(i);
      parts.push(createHash("sha256").update(inner).digest());
      inner.fill(0);
    }
    const seed = Buffer.concat(parts);
    this.generator.reseed(seed);
    // The seed and the pools' digests determine the new key given the old
    // one; once it is made, no copy stays in buffers of ours (Cryptography
    // Engineering ch. 8, "Wiping State"). The hash objects' copies inside
    // node:crypto are out of our reach and go when they are collected.
    seed.fill(0);
    for (const p of parts) p.fill(0);
    this.reseeded(now);
    return true;
  }

  /** Monotonic milliseconds since the last reseed; undefined before the first. */
  msSinceReseed(): number | undefined {
    return this.lastReseedMono === undefined ? undefined : this.clock.monotonic() - this.lastReseedMono;
  }

  private reseeded(mono: number): void {
    this.reseeds++;
    this.lastReseedMono = mono;
    this.lastReseedAt = this.clock.wall();
  }

  /**
   * 9.5.5 "RandomData": reseed check, then n bytes as successive requests of
   * at most 2^20 bytes; a single request goes into `into` when given.
   */
  randomData(n: number, into?: OutputBuffer): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`randomData: n must be a non-negative integer, got ${n}`);
    this.maybeReseed();
    if (!this.generator.seeded) throw new NotSeededError();
    let out: Uint8Array;
    if (n <= MAX_REQUEST_BYTES) {
      out = this.generator.pseudoRandomData(n, into);
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
