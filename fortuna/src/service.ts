// FortunaService (proto/lokey/fortuna/v1/fortuna.proto) over the accumulator:
// the gateway's stream, the documented endpoints (docs/reference/rest-api.md), and health.
// Request limits are the proto's field rules, checked by the runtime before
// any handler runs, so a bad request never reaches the generator.
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { bind, healthReply, HealthRegistry, peerOf, rfc3339, silentLogger, type Logger, type ServiceBinding } from "../../runtime/src/index.js";
import { Accumulator, systemClock, type Clock } from "./accumulator.js";
import { firstSeed, type LocalEntropy } from "./first-seed.js";
import { MAX_REQUEST_BYTES, NotSeededError, OutputBuffer } from "./generator.js";
import { SeedHealth } from "./seed-health.js";
import { MAX_SOURCES, SourceTable } from "./seeders.js";

export interface FortunaOptions {
  /** Health turns NOT_SERVING when the last reseed is older than this. */
  maxSeedAgeMs: number;
  /** Amplify's output when no size is given: seed length x this, at most 2^20. */
  amplificationFactor: number;
  /** Most distinct (seeding identity, chip) pairs, each its own accumulator source (default 256, all of 0..255). */
  maxSeeders?: number;
  /** The local secret in the first key (default: the OS CSPRNG). */
  entropy?: LocalEntropy;
  /** Wall clock (shown) and monotonic clock (the 100 ms rule, seed age); tests inject their own. */
  clock?: Clock;
  health?: HealthRegistry;
  log?: Logger;
}

export interface Fortuna {
  binding: ServiceBinding;
  accumulator: Accumulator;
  health: HealthRegistry;
  seedHealth: SeedHealth;
  /** Stops the staleness timer. */
  close(): void;
}

/** A time for health and info (runtime/src/timestamp.ts); "" for never. */
const timestamp = (ms: number | undefined) => (ms === undefined ? "" : rfc3339(ms));

function notSeeded(): ConnectError {
  return new ConnectError("Fortuna is not seeded yet", Code.FailedPrecondition);
}

function notASeeder(): ConnectError {
  return new ConnectError("only LoKey services may add seed material to Fortuna", Code.PermissionDenied);
}

export function createFortuna(opts: FortunaOptions): Fortuna {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? silentLogger;
  const acc = new Accumulator(clock);
  const health = opts.health ?? new HealthRegistry();
  const seedHealth = new SeedHealth(acc, health, [FortunaService.typeName], opts.maxSeedAgeMs);
  seedHealth.refresh();
  const sources = new SourceTable(opts.maxSeeders ?? MAX_SOURCES);

  // Who is seeding: the service identity the runtime's ACCESS_SERVICE rule
  // gave the caller. The runtime refused everyone else before this handler;
  // checking again keeps the accumulator closed if a rule is ever loosened.
  const seederOf = (ctx: HandlerContext): string => {
    const identity = peerOf(ctx).service;
    if (identity === undefined) throw notASeeder();
    return identity;
  };

  // Every output path goes through here: reseed check, generation, health upkeep.
  const output = (n: number, into?: OutputBuffer): Uint8Array => {
    if (!acc.seeded) throw notSeeded();
    const before = acc.stats().reseedCount;
    let data: Uint8Array;
    try {
      data = acc.randomData(n, into);
    } catch (err) {
      throw err instanceof NotSeededError ? notSeeded() : err;
    }
    if (acc.stats().reseedCount !== before) seedHealth.refresh();
    return data;
  };

  const binding = bind(
    FortunaService,
    {
      generate(req) {
        return { data: output(req.size), size: req.size };
      },

      // The first seed reseeds the generator at once, so the service serves
      // as soon as the gateway has seeded it, but never from the caller's
      // material alone (first-seed.ts). Later seeds become events of the
      // caller's own source, spread over the pools, and this request reseeds
      // when the pool rules allow (9.5.5), with no need of a later request
      // for random data. A seeder whose every call should reseed sends two
      // rounds of the pools' worth of events, as the gateway does
      // (gateway/src/engine/seeder.ts, SEED_SAMPLES).
      seed(req, ctx) {
        const seeder = seederOf(ctx);
        let reseeded: boolean;
        if (!acc.seeded) {
          firstSeed(acc, req.seeds, opts.entropy);
          reseeded = true;
        } else {
          const source = sources.sourceOf(seeder, req.chip);
          for (const s of req.seeds) acc.addSeed(source, s);
          reseeded = acc.maybeReseed();
        }
        seedHealth.refresh();
        // One line per Seed call with the reseed count it left: how often the
        // seeders' material really reaches the key (LOG_LEVEL=debug).
        log.debug("seeded", { seeder, chip: req.chip, count: req.seeds.length, reseeded, reseedCount: acc.stats().reseedCount });
        return { status: reseeded ? "reseeded" : "pooled", count: req.seeds.length, reseeded };
      },

      // A caller's seed only ever enters the pools, as events of the caller's
      // own source: it can add entropy but not set the state; the output comes
      // from the main generator as usual. While unseeded nothing is touched:
      // a caller's seed must never be the generator's only secret.
      amplify(req, ctx) {
        const seeder = seederOf(ctx);
        if (!acc.seeded) throw notSeeded();
        const source = sources.sourceOf(seeder);
        const size = req.size ?? Math.min(req.seed.length * opts.amplificationFactor, MAX_REQUEST_BYTES);
        acc.addSeed(source, req.seed);
        return { data: output(size), size };
      },

      // Pool 0's fill says when the next reseed is due, which is what a
      // seeder would time its events by; only callers that may seed see it.
      getInfo(_req, ctx) {
        const s = acc.stats();
        const mayInspect = peerOf(ctx).service !== undefined;
        return {
          service: "fortuna",
          seeded: s.seeded,
          reseedCount: s.reseedCount,
          lastReseed: timestamp(s.lastReseedAt),
          bytesGenerated: s.bytesGenerated,
          requestsServed: s.requestsServed,
          pool0Bytes: mayInspect ? BigInt(s.pool0Bytes) : 0n,
          poolCount: s.poolCount,
        };
      },

      getHealth() {
        const h = seedHealth.refresh();
        const s = acc.stats();
        return {
          status: h.healthy ? "healthy" : "unhealthy",
          timestamp: rfc3339(clock.wall()),
          seeded: s.seeded,
          lastReseed: timestamp(s.lastReseedAt),
          reason: h.reason,
        };
      },

      // Generation follows the reader: each chunk is made only when the
      // transport has taken the previous one (the `yield` resumes after the
      // write), so a stalled reader leaves the service idle. Taken means
      // serialized, which copies the bytes, so every chunk is generated into
      // the same buffer: three 64 KiB allocations per message became two
      // (docs/performance.md, "Footprint"), and no chunk stays behind in
      // freed memory. fortuna/test/stream.test.ts checks every chunk against
      // the published output on each protocol.
      async *streamRandom(req, ctx) {
        const chunk = req.chunkSize!; // the rules' default when unset
        if (!acc.seeded) throw notSeeded();
        const buffer = new OutputBuffer();
        try {
          while (!ctx.signal.aborted) yield { data: output(chunk, buffer) };
        } finally {
          buffer.wipe();
        }
      },
    },
    {
      bytes: "hex",
      render: {
        // Generate and Amplify need no hook: {"data": "<hex>", "size": N} is their REST JSON.
        seed: (res) => ({ body: { status: res.status, count: res.count } }),
        // Orchestrators probing GET /health read the status code.
        getHealth: healthReply,
      },
    },
  );

  return { binding, accumulator: acc, health, seedHealth, close: () => seedHealth.stop() };
}
