// Status figures for /api/v1/status: per-queue counters from the store,
// upstream state, and the database's size on disk and encryption.
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { AtRest, QueueStore } from "./queue-store.js";
import type { EngineStatus, QueueStatus, SourceName } from "./types.js";

/** Bytes of the database directory (RocksDB keeps its files flat: SSTs, WAL, MANIFEST). */
export async function directorySize(path: string): Promise<bigint> {
  let total = 0n;
  for (const name of await readdir(path).catch(() => [] as string[])) {
    const s = await stat(join(path, name)).catch(() => undefined);
    if (s?.isFile()) total += BigInt(s.size);
  }
  return total;
}

/** "512 B", "1.5 KB", "10.0 MB" (binary multiples, one decimal). */
export function humanSize(bytes: bigint): string {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB", "PB", "EB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

export function queueStatus(store: QueueStore, source: SourceName, origin: string, connected: boolean): QueueStatus {
  const c = store.counters(source);
  const capacity = store.queueSizes()[source];
  const current = Number(c.items);
  return {
    pollingCount: c.polling,
    queueCurrent: current,
    queueCapacity: capacity,
    // One rounding: 298 of 1000 is 29.8, where (298 / 1000) * 100 gives 29.799999999999997.
    queuePercentage: capacity > 0 ? (current * 100) / capacity : 0,
    queueDropped: c.dropped,
    consumedCount: c.consumed,
    // Seed document: what is in the queue is what has not been consumed.
    unconsumedCount: c.items,
    totalGenerated: c.total_generated,
    origin,
    connected,
  };
}

/** How queued randomness is kept at rest (queue-cipher.ts), and whether it survives a restart. */
export function encryptionStatus(atRest: AtRest): string {
  return atRest.keyKept
    ? "aes-256-ctr, key from QUEUE_KEY_FILE (queues kept across restarts)"
    : "aes-256-ctr, key in memory only (queues dropped on restart)";
}

export async function engineStatus(
  store: QueueStore,
  upstream: Record<SourceName, { origin: string; connected: boolean }>,
  instances: Pick<EngineStatus, "chips" | "fortunaInstances">,
): Promise<EngineStatus> {
  const sizeBytes = await directorySize(store.path);
  return {
    ...instances,
    trng: queueStatus(store, "trng", upstream.trng.origin, upstream.trng.connected),
    fortuna: queueStatus(store, "fortuna", upstream.fortuna.origin, upstream.fortuna.connected),
    database: { sizeBytes, sizeHuman: humanSize(sizeBytes), path: store.path, encryption: encryptionStatus(store.atRest), storageFault: store.storage.fault.reason },
  };
}
