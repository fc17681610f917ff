// The gateway engine: the queue store, the feeders that keep it full, the
// seeder that keeps Fortuna seeded, and the statistics, behind the
// GatewayEngine contract the API layer codes against.
import { mkdir } from "node:fs/promises";
import { ConfigError, type Logger } from "../../../runtime/src/index.js";
import { FORTUNA_MAX_REQUEST_BYTES, readGatewayEngineConfig, type GatewayEngineConfig } from "./config.js";
import { requireDiskFor, TRNG_ITEM_BYTES } from "./disk-space.js";
import { feedFortuna, feedTrng } from "./feeder.js";
import { watchLiveness } from "./liveness.js";
import { createMetrics } from "./metrics.js";
import { QueueStore } from "./queue-store.js";
import { Seeder } from "./seeder.js";
import { encryptionStatus, engineStatus } from "./stats.js";
import type { EngineHealth, EngineStatus, GatewayEngine, QueueSizes, SourceName } from "./types.js";
import { Upstreams } from "./upstreams.js";

export { readGatewayEngineConfig, type GatewayEngineConfig };

async function openStore(cfg: GatewayEngineConfig): Promise<QueueStore> {
  try {
    await mkdir(cfg.dbPath, { recursive: true });
    return await QueueStore.open(cfg.dbPath, { sizes: { trng: cfg.trngQueueSize, fortuna: cfg.fortunaQueueSize }, consume: true }, { key: cfg.queueKey });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError("DB_PATH", `cannot open the database at ${JSON.stringify(cfg.dbPath)}: ${why}`);
  }
}

export async function openGatewayEngine(cfg: GatewayEngineConfig, log: Logger): Promise<GatewayEngine> {
  const store = await openStore(cfg);
  const up = new Upstreams(cfg.controllerAddr, cfg.fortunaAddrs, cfg.upstreamTimeoutMs, cfg.upstreamTls);
  const seeder = new Seeder(up, cfg.reseedIntervalMs, cfg.retry, cfg.upstreamTimeoutMs, log.child({ component: "seeder" }));
  const stop = new AbortController();
  let databaseOk = true;

  const upstreamState = () => ({
    // A stream paused by flow control (full queue) still says "streaming"
    // after its peer died; the liveness watch says whether it is still there.
    trng: { origin: up.trngOrigin, connected: up.controllerLink.streaming && up.controllerLink.live },
    fortuna: { origin: "fortuna", connected: up.fortuna.some((f) => f.link.streaming && f.link.live) },
  });
  const status = async (): Promise<EngineStatus> => engineStatus(store, upstreamState());
  const metrics = createMetrics(store, status);

  const feedLog = log.child({ component: "feeder" });
  const loops = [
    feedTrng(store, up, cfg.retry, stop.signal, feedLog),
    ...up.fortuna.map((f) => feedFortuna(store, f, cfg.fortunaItemBytes, cfg.retry, stop.signal, feedLog)),
    seeder.run(stop.signal),
    ...up.health.map((h) => watchLiveness(h.link, h.client, stop.signal, log.child({ component: "liveness" }))),
  ];
  log.info("gateway engine started", {
    dbPath: cfg.dbPath,
    controller: cfg.controllerAddr,
    fortuna: cfg.fortunaAddrs,
    queueSizes: store.queueSizes(),
    consume: store.consumeMode(),
    fortunaItemBytes: cfg.fortunaItemBytes,
    encryption: encryptionStatus(store.atRest),
    // Accepted for compatibility with the seed's polling design; streams push instead.
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

  // A database write failing (disk full, I/O error) shows in health, then rethrows.
  const guarded = async <T>(p: Promise<T>): Promise<T> => {
    try {
      const v = await p;
      databaseOk = true;
      return v;
    } catch (err) {
      databaseOk = false;
      log.error("database operation failed", { error: err });
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
      let pulls = 0;
      const fill =
        source === "fortuna"
          ? async (n: number) => {
              const got = await up.pullFortuna(n, signal);
              pulls += got.calls;
              return got.data;
            }
          : undefined;
      const out = await guarded(store.take(source, bytes, offsetBytes, { consume: store.consumeMode(), fill }));
      if (pulls > 0) await guarded(store.addPolls("fortuna", pulls));
      if (out) metrics.served(source, out.length);
      return out;
    },

    async takeSome(source, maxBytes, signal) {
      checkSource(source);
      if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
      for (;;) {
        if (signal.aborted) throw signal.reason;
        // Listen before looking, so an item arriving in between still wakes us.
        const added = store.added(source).waiter(signal);
        const got = await guarded(store.takeSome(source, maxBytes)).catch((err) => {
          added.cancel();
          throw err;
        });
        if (got.length > 0) {
          added.cancel();
          metrics.served(source, got.length);
          return got;
        }
        if (source === "fortuna") {
          // An empty Fortuna queue is refilled by the stream; a reader
          // faster than that is served straight from Fortuna instead.
          try {
            const { data, calls } = await up.pullFortuna(Math.min(maxBytes, FORTUNA_MAX_REQUEST_BYTES), signal);
            added.cancel();
            await guarded(store.addPolls("fortuna", calls));
            metrics.served(source, data.length);
            return data;
          } catch (err) {
            if (signal.aborted) {
              added.cancel();
              throw signal.reason;
            }
            log.debug("direct Fortuna pull failed; waiting for the queue", { error: err });
          }
        }
        await added.fired;
      }
    },

    status,

    health(): EngineHealth {
      return {
        controller: up.controllerLink.reachable,
        fortuna: up.fortuna.some((f) => f.link.reachable),
        database: databaseOk,
        seeded: seeder.seeded,
        ...(seeder.lastError !== undefined ? { seedError: seeder.lastError } : {}),
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
      await Promise.allSettled(loops);
      up.close();
      await store.close();
    },
  };
}
