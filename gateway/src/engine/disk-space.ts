// A queue size the disk cannot hold is refused when it is asked for, not
// discovered later as a full disk in the middle of a refill.
import { statfs } from "node:fs/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import type { QueueSizes, SourceName } from "./types.js";

/** A TRNG queue item is one controller sample: a SHA-256 output (FIPS 180-4 §6.2). */
export const TRNG_ITEM_BYTES = 32;

// RocksDB holds a value in its write-ahead log and again in SST files until
// compaction drops the old copies: budget twice the payload.
const SPACE_AMPLIFICATION = 2;

const FIELD: Record<SourceName, string> = { trng: "trng_queue_size", fortuna: "fortuna_queue_size" };

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Throws INVALID_ARGUMENT when growing to `wanted` needs more disk than DB_PATH has free. */
export async function requireDiskFor(
  dbPath: string,
  current: QueueSizes,
  wanted: Partial<QueueSizes>,
  itemBytes: Record<SourceName, number>,
): Promise<void> {
  const growth = (s: SourceName) => Math.max(0, (wanted[s] ?? current[s]) - current[s]) * itemBytes[s] * SPACE_AMPLIFICATION;
  const need = { trng: growth("trng"), fortuna: growth("fortuna") };
  if (need.trng + need.fortuna === 0) return;
  const fs = await statfs(dbPath);
  const free = fs.bavail * fs.bsize;
  if (need.trng + need.fortuna <= free) return;
  const worst: SourceName = need.trng > need.fortuna ? "trng" : "fortuna";
  throw new ConnectError(
    `${FIELD[worst]}: ${wanted[worst]} items of ${itemBytes[worst]} bytes need about ${mb(need.trng + need.fortuna)} more disk, and the database's disk has ${mb(free)} free`,
    Code.InvalidArgument,
  );
}
