// Usage per hour of one source (requests answered, bytes served), stored as
// u/<source>/<hour> buckets. Only the current bucket lives in memory; it is
// written with the next group-committed batch.
import type { BatchOp, Rocks } from "./rocks.js";
import { hourOf, readU64, u64, usageEnd, usageKey, usageStart } from "./keys.js";
import type { SourceName } from "./types.js";

const HOUR_MS = 3_600_000;

export interface UsageBucket {
  /** Start of the hour, ms since the epoch. */
  hourStartMs: number;
  requests: bigint;
  bytes: bigint;
}

/** A bucket as stored: `hour` counts hours since the epoch. */
export interface UsageHour {
  hour: bigint;
  requests: bigint;
  bytes: bigint;
}

const decode = (v: Buffer): { requests: bigint; bytes: bigint } => ({ requests: readU64(v, 0), bytes: readU64(v, 8) });

/** The newest stored bucket of `source`. */
export async function lastUsageBucket(db: Rocks, source: SourceName): Promise<UsageHour | undefined> {
  const [u] = await db.range({ gte: usageStart(source), lt: usageEnd(source), limit: 1, reverse: true });
  return u ? { hour: hourOf(u[0]), ...decode(u[1]) } : undefined;
}

/** Every stored bucket of `source`, oldest first. */
export async function readUsage(db: Rocks, source: SourceName): Promise<UsageBucket[]> {
  const rows = await db.range({ gte: usageStart(source), lt: usageEnd(source) });
  return rows.map(([k, v]) => ({ hourStartMs: Number(hourOf(k)) * HOUR_MS, ...decode(v) }));
}

export class UsageMeter {
  private dirty = false;

  /** @param current the stored bucket to continue from, if any. */
  constructor(private current?: UsageHour) {}

  count(bytes: number): void {
    const hour = BigInt(Math.floor(Date.now() / HOUR_MS));
    // The current bucket is kept in memory; a new hour (or the first request
    // after a restart) starts from what is stored for that hour, if anything.
    if (this.current?.hour !== hour) this.current = { hour, requests: 0n, bytes: 0n };
    this.current.requests++;
    this.current.bytes += BigInt(bytes);
    this.dirty = true;
  }

  /** The put for the current bucket if it changed since the last call. */
  cut(source: SourceName): BatchOp | undefined {
    if (!this.dirty || !this.current) return undefined;
    this.dirty = false;
    const u = this.current;
    return { type: "put", key: usageKey(source, u.hour), value: Buffer.concat([u64(u.requests), u64(u.bytes)]) };
  }
}
