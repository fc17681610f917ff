// Seeds every Fortuna instance from the hardware TRNG: at start-up (as soon
// as both answer) and then every reseed interval (docs/reference/original-design.md, "Fortuna
// seeding"). The samples come from the controller's Generate, never from
// the TRNG queue, so seed material is never also served to clients. Each
// instance gets its own samples: two instances seeded identically from
// scratch would emit identical streams.
import { performance } from "node:perf_hooks";
import type { Logger } from "../../../runtime/src/index.js";
import type { RetryPolicy } from "./config.js";
import { pause, Pulse } from "./lock.js";
import { withCallSignal, type Upstreams } from "./upstreams.js";

// Fortuna's published parameters (Cryptography Engineering 9.5.2, 9.5.5):
// 32 pools, and a reseed only once P0 holds MinPoolSize = 64 bytes. They are
// the design's, not a setting; fortuna/src/pools.ts and accumulator.ts hold
// the same (gateway/test/engine/seeder.test.ts checks that they agree).
export const FORTUNA_POOLS = 32;
export const FORTUNA_MIN_POOL_SIZE = 64;
/** controller.proto GenerateResponse: conditioned samples of 32 bytes; Fortuna takes each as one event (9.5.6: 1..32 bytes). */
export const SAMPLE_BYTES = 32;

/**
 * Rounds of the pools per seeding: the samples it takes for P0 to reach
 * MinPoolSize. Fortuna gives each seeder its own source, and a source's events
 * go to the pools in turn (9.5.6), so of any 32 consecutive samples of ours
 * exactly one lands in P0, wherever our turn stands; P0 needs 64 / 32 = 2 of
 * them (Fortuna also counts each event's 2 header bytes, 68 >= 64: counting
 * the samples alone is the safe side).
 */
export const SEED_ROUNDS = Math.ceil(FORTUNA_MIN_POOL_SIZE / SAMPLE_BYTES);

/**
 * Samples per seeding: 32 x 2 = 64 samples, 2 KiB, so every seeding reseeds
 * Fortuna through its own pool rules (9.5.5), in the Seed call itself. With
 * the original design's 5 samples, P0 got one sample every 6.4 seedings and
 * needed two: Fortuna reseeded every 12.8 seedings, ~6.4 minutes, not every
 * 30 s. At the default 30 s interval this is 68 B/s, about 12 % of the
 * ~590 B/s of samples the chip makes (controller/README.md); an interval
 * under ~3.5 s would ask for more than that. It fits one Seed call (fortuna.proto
 * SeedRequest.seeds: at most 64).
 */
export const SEED_SAMPLES = FORTUNA_POOLS * SEED_ROUNDS;

export class Seeder {
  /** Per Fortuna instance: seeded by us at least once since start. */
  private readonly seededOnce: boolean[];
  lastError?: string;
  seedings = 0;
  /** Instances that came back after being lost: a restarted Fortuna refuses to stream until seeded. */
  private readonly returned = new Set<number>();
  private readonly returnedPulse = new Pulse();

  constructor(
    private readonly up: Upstreams,
    private readonly intervalMs: number,
    private readonly retry: RetryPolicy,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.seededOnce = up.fortuna.map(() => false);
  }

  private watchReturns(signal: AbortSignal): void {
    this.up.fortuna.forEach((f, i) => {
      const loop = async () => {
        while (!signal.aborted) {
          await f.link.returned.wait(signal);
          this.returned.add(i);
          this.returnedPulse.fire();
        }
      };
      loop().catch(() => undefined);
    });
  }

  /** Every Fortuna instance was seeded at least once. */
  get seeded(): boolean {
    return this.seededOnce.every(Boolean);
  }

  async run(signal: AbortSignal): Promise<void> {
    let wait = this.retry.minMs;
    let due = this.up.fortuna.map((_, i) => i);
    // Rounds start one interval apart on the monotonic clock, so the time the
    // chip takes to make the samples (about 1.5 s for 2 KiB) does not stretch
    // the interval; a round longer than the interval is followed at once.
    let roundStart = performance.now();
    this.watchReturns(signal);
    while (!signal.aborted) {
      const failed: number[] = [];
      for (const i of due) {
        if (signal.aborted) return;
        try {
          await this.seedOne(i, signal);
        } catch (err) {
          if (signal.aborted) return;
          failed.push(i);
          this.lastError = `${this.up.fortuna[i].link.address}: ${err instanceof Error ? err.message : String(err)}`;
          this.log.warn("seeding Fortuna failed; retrying", { error: this.lastError, retryInMs: wait });
        }
      }
      if (failed.length === 0) {
        this.lastError = undefined;
        due = this.up.fortuna.map((_, i) => i);
        wait = this.retry.minMs;
        // An instance that returned is seeded at once, out of turn: the
        // others keep their interval.
        if (this.returned.size === 0) await pause(Math.max(0, roundStart + this.intervalMs - performance.now()), signal, this.returnedPulse);
        if (this.returned.size > 0) {
          due = [...this.returned];
          this.returned.clear();
          continue;
        }
        roundStart = performance.now();
      } else {
        due = failed;
        await pause(wait, signal);
        wait = Math.min(wait * 2, this.retry.maxMs, this.intervalMs);
      }
    }
  }

  private async seedOne(i: number, signal: AbortSignal): Promise<void> {
    const f = this.up.fortuna[i];
    const timeoutMs = this.timeoutMs;
    const samples: Uint8Array[] = [];
    try {
      // One Generate call per round of the pools (32 samples, within
      // GenerateRequest.count's 1..100): each waits for the chip under the
      // unary deadline, and a round takes the chip under a second, longer
      // while the TRNG queue shares it.
      for (let round = 0; round < SEED_ROUNDS; round++) {
        const got = await withCallSignal(signal, (s) => this.up.controller.generate({ count: FORTUNA_POOLS }, { timeoutMs, signal: s }));
        this.up.controllerLink.up();
        samples.push(...got.data);
        // Fewer or shorter samples would leave P0 short of MinPoolSize: no reseed.
        if (got.data.length !== FORTUNA_POOLS || got.data.some((d) => d.length !== SAMPLE_BYTES)) {
          throw new Error(`controller sent ${got.data.length} samples, asked for ${FORTUNA_POOLS} of ${SAMPLE_BYTES} bytes`);
        }
      }
      await withCallSignal(signal, (s) => f.client.seed({ seeds: samples }, { timeoutMs, signal: s }));
    } finally {
      // They are Fortuna's key material now (or never will be): no copy stays here.
      for (const s of samples) s.fill(0);
    }
    f.link.up();
    this.seedings++;
    const first = !this.seededOnce[i];
    this.seededOnce[i] = true;
    if (first) this.log.info("Fortuna seeded", { address: f.link.address });
    // A stream refused while unseeded can be retried right away.
    f.link.wake.fire();
  }
}
