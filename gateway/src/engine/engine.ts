// The gateway engine: the queue store, the feeders that keep it full, the
// seeder that keeps Fortuna seeded, and the statistics, behind the
// GatewayEngine contract the API layer codes against.
import { mkdir } from "node:fs/promises";
import { ConfigError, type BackoffPolicy, type Logger } from "../../../runtime/src/index.js";
import { FORTUNA_MAX_REQUEST_BYTES, readGatewayEngineConfig, type GatewayEngineConfig } from "./config.js";
import { requireDiskFor, TRNG_ITEM_BYTES } from "./disk-space.js";
import { feedFortuna, feedTrng } from "./feeder.js";
import { ChipRoster, ControllerMember, registerChipMetrics } from "./controllers.js";
import { watchLiveness } from "./liveness.js";
import { MemberSet } from "./members.js";
import { createMetrics } from "./metrics.js";
import { QueueStore } from "./queue-store.js";
import type { Lookup } from "./resolver.js";
import { Seeder } from "./seeder.js";
import { StorageUnavailable } from "./storage-fault.js";
import { reportStorage } from "./storage-report.js";
import { encryptionStatus, engineStatus } from "./stats.js";
import type { EngineHealth, EngineStatus, GatewayEngine, QueueSizes, SourceName } from "./types.js";
import { FortunaMember, FortunaPuller } from "./upstreams.js";

export { readGatewayEngineConfig, type GatewayEngineConfig };

async function openStore(cfg: GatewayEngineConfig, storageRetry?: BackoffPolicy): Promise<QueueStore> {
  try {
    await mkdir(cfg.dbPath, { recursive: true });
    return await QueueStore.open(cfg.dbPath, { sizes: { trng: cfg.trngQueueSize, fortuna: cfg.fortunaQueueSize }, consume: true }, { key: cfg.queueKey, storageRetry });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError("DB_PATH", `cannot open the database at ${JSON.stringify(cfg.dbPath)}: ${why}`);
  }
}

/** What tests change: how dns:/// names are looked up, and how often. */
export interface EngineOptions {
  lookup?: Lookup;
  dnsRefreshMs?: number;
  /** Back-off between attempts to end a storage fault (storage-fault.ts). */
  storageRetry?: BackoffPolicy;
}

export async function openGatewayEngine(cfg: GatewayEngineConfig, log: Logger, opts: EngineOptions = {}): Promise<GatewayEngine> {
  const store = await openStore(cfg, opts.storageRetry);
  const stop = new AbortController();
  let databaseOk = true;

  const feedLog = log.child({ component: "feeder" });
  const liveLog = log.child({ component: "liveness" });
  const upLog = log.child({ component: "upstreams" });
  const resolving = { lookup: opts.lookup, refreshMs: opts.dnsRefreshMs };
  // Each controller streams into the TRNG queue on its own; the liveness
  // watch keeps its link's state current (liveness.ts).
  const controllers: MemberSet<ControllerMember> = new MemberSet(cfg.controllers, {
    ...resolving,
    make: (e) => new ControllerMember(e, cfg.upstreamTls),
    run: (c, signal) => [feedTrng(store, c, cfg.retry, signal, feedLog), watchLiveness(c.link, c.health, signal, liveLog)],
    removed: (c) => roster.removed(c),
  }, stop.signal, upLog);
  const roster = new ChipRoster(() => controllers.members);
  // Made just below, before any member starts: members start after the first lookup, which is awaited.
  let seeder: Seeder;
  const fortunas: MemberSet<FortunaMember> = new MemberSet(cfg.fortunas, {
    ...resolving,
    make: (e) => new FortunaMember(e, cfg.upstreamTls),
    run: (f, signal) => [
      feedFortuna(store, f, cfg.fortunaItemBytes, cfg.retry, signal, feedLog),
      watchLiveness(f.link, f.health, signal, liveLog),
      seeder.follow(f, signal),
    ],
  }, stop.signal, upLog);
  seeder = new Seeder(controllers, fortunas, cfg.reseedIntervalMs, cfg.retry, cfg.upstreamTimeoutMs, log.child({ component: "seeder" }));
  const puller = new FortunaPuller(fortunas, cfg.upstreamTimeoutMs);

  const upstreamState = () => ({
    trng: { origin: roster.origin(), connected: roster.connected() },
    // A stream paused by flow control (full queue) still says "streaming"
    // after its peer died; the liveness watch says whether it is still there.
    fortuna: { origin: "fortuna", connected: fortunas.members.some((f) => f.link.streaming && f.link.live) },
  });
  const status = (): Promise<EngineStatus> =>
    engineStatus(store, upstreamState(), { chips: roster.status(), fortunaInstances: fortunas.members.map((f) => f.status()) });
  const metrics = createMetrics(store, status, () => [
    ...controllers.members.map((c) => ({ kind: "controller" as const, link: c.link })),
    ...fortunas.members.map((f) => ({ kind: "fortuna" as const, link: f.link })),
  ]);
  registerChipMetrics(metrics.registry, roster);

  const seeding = seeder.run(stop.signal);
  log.info("gateway engine started", {
    dbPath: cfg.dbPath,
    controller: cfg.controllers.map((c) => c.spec),
    fortuna: cfg.fortunas.map((f) => f.spec),
    queueSizes: store.queueSizes(),
    consume: store.consumeMode(),
    fortunaItemBytes: cfg.fortunaItemBytes,
    encryption: encryptionStatus(store.atRest),
    // Accepted for compatibility with the original's polling design (docs/reference/original-design.md); streams push instead.
    pollIntervalsIgnored: { trngMs: cfg.trngPollIntervalMs, fortunaMs: cfg.fortunaPollIntervalMs },
  });
  const { dropped, unencrypted } = store.atRest;
  if (dropped.trng + dropped.fortuna > 0n) {
    log.info(
      unencrypted
        ? "queued items stored unencrypted by an earlier version were dropped and compacted out of the database"
        : "queued items written under another queue key were dropped (without QUEUE_KEY_FILE the key lives in memory only); the queues refill",
      { droppedItems: { trng: dropped.trng, fortuna: dropped.fortuna } },
    );
  }
  reportStorage(store.storage, log.child({ component: "storage" }));

  // A database write failing (disk full, I/O error) shows in health, then rethrows.
  const guarded = async <T>(p: Promise<T>): Promise<T> => {
    try {
      const v = await p;
      databaseOk = true;
      return v;
    } catch (err) {
      // A storage fault is reported once (reportStorage), not per request.
      if (!(err instanceof StorageUnavailable)) {
        databaseOk = false;
        log.error("database operation failed", { error: err });
      }
      throw err;
    }
  };

  const checkSource = (source: SourceName) => {
    if (source !== "trng" && source !== "fortuna") throw new RangeError(`unknown source ${JSON.stringify(source)}`);
  };

  return {
    metrics: metrics.registry,

    async take(source, bytes, offsetBytes, signal) {
      checkSource(source);
      if (!Number.isSafeInteger(bytes) || bytes < 1) throw new RangeError(`bytes must be a positive integer, got ${bytes}`);
      if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) throw new RangeError(`offsetBytes must be >= 0, got ${offsetBytes}`);
      store.storage.fault.check();
      // A Fortuna shortfall is pulled from Fortuna; the calls are counted in the take's batch.
      const fill = source === "fortuna" ? (n: number) => puller.pull(n, signal) : undefined;
      const out = await guarded(store.take(source, bytes, offsetBytes, { consume: store.consumeMode(), fill }));
      if (out) metrics.served(source, out.length);
      return out;
    },

    async takeSome(source, maxBytes, signal) {
      checkSource(source);
      if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
      store.storage.fault.check();
      // An empty Fortuna queue is refilled by the stream; a reader faster
      // than that is served straight from Fortuna instead (its calls counted
      // with the next batch); if that fails too, it waits for the queue.
      const pullSome = async (n: number) => {
        try {
          return await puller.pull(Math.min(n, FORTUNA_MAX_REQUEST_BYTES), signal);
        } catch (err) {
          if (!signal.aborted) log.debug("direct Fortuna pull failed; waiting for the queue", { error: err });
          throw err;
        }
      };
      for (;;) {
        if (signal.aborted) throw signal.reason;
        // Listen before looking, so an item arriving in between still wakes us.
        const added = store.added(source).waiter(signal);
        const got = await guarded(store.takeSome(source, maxBytes, source === "fortuna" ? pullSome : undefined)).catch((err) => {
          added.cancel();
          throw err;
        });
        if (got.length > 0) {
          added.cancel();
          metrics.served(source, got.length);
          return got;
        }
        if (signal.aborted) {
          added.cancel();
          throw signal.reason;
        }
        await added.fired;
      }
    },

    status,

    health(): EngineHealth {
      return {
        controller: roster.reachable(),
        fortuna: fortunas.members.some((f) => f.link.reachable),
        database: databaseOk,
        seeded: seeder.seeded,
        ...(seeder.lastError !== undefined ? { seedError: seeder.lastError } : {}),
        ...(store.storage.fault.reason !== undefined ? { storageFault: store.storage.fault.reason } : {}),
      };
    },

    getQueueConfig: () => store.queueSizes(),
    async setQueueConfig(sizes: Partial<QueueSizes>) {
      await requireDiskFor(cfg.dbPath, store.queueSizes(), sizes, { trng: TRNG_ITEM_BYTES, fortuna: cfg.fortunaItemBytes });
      return guarded(store.setQueueSizes(sizes));
    },
    getConsume: () => store.consumeMode(),
    setConsume: (consume: boolean) => guarded(store.setConsumeMode(consume)),

    async close() {
      stop.abort(new Error("gateway engine closing"));
      await seeding.catch(() => undefined);
      await Promise.all([controllers.close(), fortunas.close()]);
      await store.close();
    },
  };
}
