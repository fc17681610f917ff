// Seeds every Fortuna instance from the hardware TRNG: at start-up (as soon
// as both answer), then every reseed interval (docs/reference/original-design.md,
// "Fortuna seeding"), and at once when an instance appears or comes back. The
// samples come from the controllers' Generate, never from the TRNG queue, so
// seed material is never also served to clients. Each instance gets its own
// samples: two instances seeded identically from scratch would emit identical
// streams. With several chips, every chip whose health tests pass gives its
// share, and each chip's samples go in a Seed call of their own naming the
// chip (SeedRequest.chip): Fortuna gives each chip its own accumulator
// source, so one bad chip cannot dominate (fortuna/README.md, "Who seeds Fortuna").
import { performance } from "node:perf_hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { Backoff, type Logger } from "../../../runtime/src/index.js";
import type { RetryPolicy } from "./config.js";
import type { ControllerMember } from "./controllers.js";
import { pause, Pulse } from "./lock.js";
import type { MemberSet } from "./members.js";
import { withCallSignal, type FortunaMember } from "./upstreams.js";

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
 * MinPoolSize. Fortuna gives each seeder (and each chip) its own source, and a
 * source's events go to the pools in turn (9.5.6), so of any 32 consecutive
 * samples of one chip exactly one lands in P0, wherever its turn stands; P0
 * needs 64 / 32 = 2 of them (Fortuna also counts each event's 2 header bytes,
 * 68 >= 64: counting the samples alone is the safe side). Two chips giving a
 * round each put two samples in P0 as surely as one chip giving two.
 */
export const SEED_ROUNDS = Math.ceil(FORTUNA_MIN_POOL_SIZE / SAMPLE_BYTES);

/**
 * Samples per seeding from one chip: 32 x 2 = 64 samples, 2 KiB, so every seeding reseeds
 * Fortuna through its own pool rules (9.5.5), in the Seed call itself. With
 * the original design's 5 samples, P0 got one sample every 6.4 seedings and
 * needed two: Fortuna reseeded every 12.8 seedings, ~6.4 minutes, not every
 * 30 s. At the default 30 s interval this is 68 B/s, about 12 % of the
 * ~590 B/s of samples the chip makes (controller/README.md); an interval
 * under ~3.5 s would ask for more than that. It fits one Seed call (fortuna.proto
 * SeedRequest.seeds: at most 64). With N chips each gives ceil(2 / N)
 * rounds: the load on each chip falls as chips are added.
 */
export const SEED_SAMPLES = FORTUNA_POOLS * SEED_ROUNDS;

/**
 * Chips asked per seeding. With more, they take turns, so a seeding stays a
 * few KiB however many chips there are (each chip's events keep their own
 * round robin over the pools across seedings, 9.5.6).
 */
export const MAX_SEED_CHIPS = 8;

interface Schedule {
  /** performance.now() when the instance is next due. */
  due: number;
  backoff: Backoff;
  /** Times it came back: one during a seeding makes it due again at once. */
  returns: number;
  /** Its last seeding's failure; cleared by its next success. */
  error?: string;
}

export class Seeder {
  seedings = 0;
  private readonly schedule = new Map<FortunaMember, Schedule>();
  /** Fired when an instance must be seeded out of turn (it came back, it is new). */
  private readonly wake = new Pulse();
  /** Where the next seeding's chips start, when there are more than MAX_SEED_CHIPS. */
  private turn = 0;

  constructor(
    private readonly controllers: MemberSet<ControllerMember>,
    private readonly fortunas: MemberSet<FortunaMember>,
    private readonly intervalMs: number,
    private readonly retry: RetryPolicy,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** A seeding failure of an instance known now, until that instance is seeded again. */
  get lastError(): string | undefined {
    for (const s of this.schedule.values()) if (s.error !== undefined) return s.error;
    return undefined;
  }

  /** Every Fortuna instance known now was seeded by us since it (or we) started. */
  get seeded(): boolean {
    const fs = this.fortunas.members;
    return fs.length > 0 && fs.every((f) => f.seeded);
  }

  /**
   * One of the instance's loops (members.ts): a restarted Fortuna refuses to
   * stream until seeded, so its return makes it due at once, out of turn; the
   * others keep their interval.
   */
  async follow(f: FortunaMember, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await f.link.returned.wait(signal).catch(() => undefined);
      if (signal.aborted) return;
      f.seeded = false;
      const s = this.schedule.get(f);
      if (s) {
        s.due = 0;
        s.returns++;
      }
      this.wake.fire();
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // New instances are due at once; those gone are forgotten.
      const members = this.fortunas.members;
      for (const f of members) {
        if (!this.schedule.has(f)) this.schedule.set(f, { due: 0, returns: 0, backoff: new Backoff({ minMs: this.retry.minMs, maxMs: Math.min(this.retry.maxMs, this.intervalMs) }) });
      }
      for (const f of this.schedule.keys()) if (!members.includes(f)) this.schedule.delete(f);
      for (const [f, s] of this.schedule) {
        if (signal.aborted) return;
        if (s.due > performance.now()) continue;
        // Seedings start one interval apart on the monotonic clock, so the
        // time the chips take to make the samples (about 1.5 s for 2 KiB)
        // does not stretch the interval.
        const start = performance.now();
        const returns = s.returns;
        try {
          await this.seedOne(f, signal);
          s.error = undefined;
          s.backoff.reset();
          s.due = s.returns === returns ? start + this.intervalMs : 0;
        } catch (err) {
          if (signal.aborted) return;
          const wait = s.backoff.next();
          s.due = performance.now() + wait;
          s.error = `${f.link.address}: ${err instanceof Error ? err.message : String(err)}`;
          this.log.warn("seeding Fortuna failed; retrying", { error: s.error, retryInMs: wait });
        }
      }
      const next = Math.min(...[...this.schedule.values()].map((s) => s.due));
      // With no instance known yet, the first one to appear wakes us.
      const waitMs = Number.isFinite(next) ? Math.max(0, next - performance.now()) : this.intervalMs;
      // Instances added or removed end the wait too.
      const changed = new AbortController();
      this.fortunas.changed.wait(changed.signal).then(() => changed.abort(), () => undefined);
      await pause(waitMs, AbortSignal.any([signal, changed.signal]), this.wake);
      changed.abort();
    }
  }

  /**
   * The chips to seed from: those alive with their health tests passing; with
   * none, those not heard from yet (at start-up, before the liveness watch
   * answers), whose Generate then says why it fails. A chip whose health
   * tests fail is never asked.
   */
  private chips(): ControllerMember[] {
    const members = this.controllers.members;
    const healthy = members.filter((c) => c.available);
    const unknown = members.filter((c) => !c.link.live);
    const chips = healthy.length > 0 ? healthy : unknown;
    if (chips.length > MAX_SEED_CHIPS) {
      const start = this.turn % chips.length;
      this.turn = start + MAX_SEED_CHIPS;
      return Array.from({ length: MAX_SEED_CHIPS }, (_, i) => chips[(start + i) % chips.length]);
    }
    if (chips.length > 0) return chips;
    throw new Error(members.length ? "no controller can seed: every chip's health tests are failing" : "no controller is known (CONTROLLER_ADDR resolves to no address)");
  }

  /** `rounds` Generate calls of one round of the pools each, from one chip. */
  private async samplesOf(c: ControllerMember, rounds: number, signal: AbortSignal): Promise<Uint8Array[]> {
    const samples: Uint8Array[] = [];
    try {
      // Each call waits for the chip under the unary deadline; a round takes
      // the chip under a second, longer while the TRNG stream shares it.
      for (let round = 0; round < rounds; round++) {
        const got = await withCallSignal(signal, (s) => c.client.generate({ count: FORTUNA_POOLS }, { timeoutMs: this.timeoutMs, signal: s }));
        c.link.up();
        samples.push(...got.data);
        // Fewer or shorter samples would leave P0 short of MinPoolSize: no reseed.
        if (got.data.length !== FORTUNA_POOLS || got.data.some((d) => d.length !== SAMPLE_BYTES)) {
          throw new Error(`controller ${c.endpoint.address} sent ${got.data.length} samples, asked for ${FORTUNA_POOLS} of ${SAMPLE_BYTES} bytes`);
        }
      }
      return samples;
    } catch (err) {
      for (const s of samples) s.fill(0);
      throw err;
    }
  }

  /**
   * SEED_ROUNDS rounds of the pools in all, shared among the chips (each at
   * least one); a chip failing on the way is made up for by the others, up
   * to SEED_ROUNDS each (one Seed call's worth).
   */
  private async gather(signal: AbortSignal): Promise<Map<ControllerMember, Uint8Array[]>> {
    const got = new Map<ControllerMember, Uint8Array[]>();
    const rounds = () => [...got.values()].reduce((n, s) => n + s.length / FORTUNA_POOLS, 0);
    let pool = this.chips();
    let firstError: unknown;
    while (rounds() < SEED_ROUNDS && pool.length > 0) {
      const per = Math.ceil((SEED_ROUNDS - rounds()) / pool.length);
      const asked = pool.map((c) => ({ c, n: Math.min(per, SEED_ROUNDS - (got.get(c)?.length ?? 0) / FORTUNA_POOLS) })).filter((a) => a.n > 0);
      const results = await Promise.allSettled(asked.map((a) => this.samplesOf(a.c, a.n, signal)));
      pool = [];
      results.forEach((r, i) => {
        const c = asked[i].c;
        if (r.status === "rejected") {
          firstError ??= r.reason;
          this.log.warn("a chip gave no seed material; the others make up for it", { address: c.endpoint.address, serial: c.serial, error: r.reason });
          return;
        }
        got.set(c, [...(got.get(c) ?? []), ...r.value]);
        pool.push(c);
      });
      if (signal.aborted) break;
    }
    if (got.size === 0) throw firstError ?? new Error("no seed material");
    return got;
  }

  private async seedOne(f: FortunaMember, signal: AbortSignal): Promise<void> {
    const timeoutMs = this.timeoutMs;
    const got = await this.gather(signal);
    let refused: unknown;
    let accepted = 0;
    try {
      for (const [c, seeds] of got) {
        try {
          await withCallSignal(signal, (s) => f.client.seed({ seeds, chip: c.chipId }, { timeoutMs, signal: s }));
          c.seeded += BigInt(seeds.length);
          accepted++;
        } catch (err) {
          // Fortuna's sources are all given out (256, one per caller and
          // chip): this chip cannot have one, the others still seed.
          if (ConnectError.from(err).code !== Code.ResourceExhausted) throw err;
          refused = err;
          this.log.warn("Fortuna has no accumulator source left for this chip", { fortuna: f.link.address, chip: c.chipId, error: err });
        }
      }
      if (accepted === 0) throw refused;
    } finally {
      // They are Fortuna's key material now (or never will be): no copy stays here.
      for (const seeds of got.values()) for (const s of seeds) s.fill(0);
    }
    f.link.up();
    this.seedings++;
    const first = !f.seeded;
    f.seeded = true;
    if (first) this.log.info("Fortuna seeded", { address: f.link.address, chips: [...got.keys()].map((c) => c.chipId) });
    // A stream refused while unseeded can be retried right away.
    f.link.wake.fire();
  }
}
