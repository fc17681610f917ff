import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QueueStore, type Appended, type Enqueued, type SourceCounters } from "../../src/engine/queue-store.js";
import { Rocks, type BatchOp } from "../../src/engine/rocks.js";
import type { QueueSizes, SourceName } from "../../src/engine/types.js";

export function tempDir(tag = "store"): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `lokey-gw-${tag}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A queue key that outlives a store, as QUEUE_KEY_FILE gives one: tests that
 * reopen a store and look at what is queued use it (without a key, each open
 * draws its own and drops what the last one queued).
 */
export const TEST_KEY = Buffer.from("lokey test key - not for use!!!!");

export function openStore(path: string, sizes: QueueSizes = { trng: 10, fortuna: 10 }, consume = true): Promise<QueueStore> {
  return QueueStore.open(join(path, "db"), { sizes, consume }, { key: TEST_KEY });
}

/** An item whose bytes are distinct 4-byte big-endian words starting at `word`. */
export function words(word: number, count: number): Uint8Array {
  const b = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) b.writeUInt32BE(word + i, i * 4);
  return b;
}

export function wordsOf(bytes: Uint8Array): number[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= b.length; i += 4) out.push(b.readUInt32BE(i));
  return out;
}

export const bytesOf = (...xs: number[]) => Uint8Array.from(xs);

/** What an enqueue took and dropped, once its write is done. */
export async function stored(enqueued: Promise<Enqueued>): Promise<Appended> {
  const { written, ...appended } = await enqueued;
  await written;
  return appended;
}

/** The store's accounting identity: every item ever received is queued, consumed or dropped. */
export function balanced(c: SourceCounters): boolean {
  return c.total_generated === c.items + c.consumed + c.dropped;
}

export async function allBytes(store: QueueStore, source: SourceName): Promise<number[]> {
  return (await store.items(source)).flatMap((i) => [...i.data]);
}

/**
 * Fails the next unsynced RocksDB batch that deletes anything (the deferred
 * deletes of covered takes), once; `restore()` puts the real batch back.
 */
export function failNextDeleteWrite(): { failed: () => number; restore: () => void } {
  const batch = Rocks.prototype.batch;
  let failed = 0;
  Rocks.prototype.batch = function (this: Rocks, ops: BatchOp[], sync: boolean) {
    if (failed === 0 && !sync && ops.some((o) => o.type === "del")) {
      failed++;
      return Promise.reject(new Error("injected write failure"));
    }
    return batch.call(this, ops, sync);
  };
  return { failed: () => failed, restore: () => void (Rocks.prototype.batch = batch) };
}

/**
 * Consuming Fortuna takes as clients make them, one event each (the writer
 * runs between them), with every word served collected in `served`.
 */
export function consumingTakes(store: QueueStore): { served: number[]; take: (bytes: number) => Promise<Uint8Array | null> } {
  const served: number[] = [];
  const take = async (bytes: number) => {
    const out = await store.take("fortuna", bytes, 0, { consume: true });
    if (out) served.push(...wordsOf(out));
    await new Promise((r) => setImmediate(r));
    return out;
  };
  return { served, take };
}
