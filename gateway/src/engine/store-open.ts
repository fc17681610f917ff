// What opening the queue store does before anything is served: it checks
// the database against the served mark (served-mark.ts: a database that lost
// synced writes is moved forward past everything that may have been served),
// stores the default settings where none are stored, drops items written
// under another queue key (queue-key.ts), and drops what an unclean stop left
// below the reservation (reservation.ts); then the state is read as stored.
// After a failed write the store rebuilds its state the same way
// (recoveredState), once a storage fault (storage-fault.ts) is over.
import { randomBytes } from "node:crypto";
import type { BackoffPolicy } from "../../../runtime/src/index.js";
import { Rocks, type BatchHook } from "./rocks.js";
import { readPersisted, readSettings, type Persisted } from "./persisted-state.js";
import { QueueCipher, QUEUE_KEY_BYTES } from "./queue-cipher.js";
import { dropUnderOtherKey, type KeyCheck } from "./queue-key.js";
import { dropReserved } from "./reservation.js";
import { ServedMark, type MarkReport } from "./served-mark.js";
import { StorageFault } from "./storage-fault.js";
import type { QueueSizes } from "./types.js";

export interface OpenOptions {
  /**
   * The queue key (QUEUE_KEY_BYTES): what is queued survives a restart with
   * the same key. Unset: a random key kept in memory only, so what this
   * store queues is unreadable once it closes, and dropped at the next open.
   */
  key?: Uint8Array;
  /** How long the deletes of a take that waits for nothing may wait to share a batch. */
  deferMs?: number;
  /** Back-off between attempts to end a storage fault (storage-fault.ts, STORAGE_RETRY). */
  storageRetry?: BackoffPolicy;
}

/** The database's disk as the store sees it: a fault in progress, and what the served mark found. */
export interface Storage {
  fault: StorageFault;
  /** What checking the database against the served mark found at open (undefined: nothing lost). */
  opened: MarkReport | undefined;
  /** Calls `fn` with what a later check found (after a storage fault or a failed write). */
  onMarkReport(fn: (r: MarkReport) => void): void;
}

/** How the queues are kept at rest: what opening found, and whether the key outlives the process. */
export type AtRest = KeyCheck & { keyKept: boolean };

export interface Opened {
  db: Rocks;
  sizes: QueueSizes;
  consume: boolean;
  state: Persisted;
  cipher: QueueCipher;
  atRest: AtRest;
  storage: Storage;
}

interface Guard {
  fault: StorageFault;
  mark: ServedMark;
  reports: Set<(r: MarkReport) => void>;
}

/** What recoveredState checks for each open database. */
const guards = new WeakMap<Rocks, Guard>();

/**
 * Every write goes through the served mark, and none reaches RocksDB during a
 * storage fault: after a failed append only a reopen is safe (storage-fault.ts).
 */
function guardedWrites(g: Guard): BatchHook {
  return async (ops, sync, write) => {
    g.fault.check();
    try {
      await g.mark.write(ops, sync, write);
    } catch (err) {
      throw g.fault.failed(err);
    }
  };
}

/** Opens (creating) the database; `defaults` apply only where nothing is persisted yet. */
export async function openDatabase(path: string, defaults: { sizes: QueueSizes; consume: boolean }, opts: OpenOptions = {}): Promise<Opened> {
  const { key } = opts;
  const db = await Rocks.open(path);
  const fault = new StorageFault(() => db.reopen(), opts.storageRetry);
  db.onClose(() => fault.close());
  try {
    const mark = await ServedMark.open(db);
    db.onClose(() => mark.close());
    const reports = new Set<(r: MarkReport) => void>();
    const g = { fault, mark, reports };
    guards.set(db, g);
    db.hook = guardedWrites(g);
    // Before anything else is read: a database that lost synced writes is moved forward first.
    const report = await mark.check(db);
    const { sizes, consume, init } = await readSettings(db, defaults);
    await db.batch(init, true);
    const k = key ?? randomBytes(QUEUE_KEY_BYTES);
    const cipher = new QueueCipher(k);
    if (!key) k.fill(0);
    const checked = await dropUnderOtherKey(db, cipher.check);
    const state = await recoveredState(db, cipher);
    const storage: Storage = { fault, opened: report, onMarkReport: (fn) => void reports.add(fn) };
    return { db, sizes, consume, state, cipher, atRest: { ...checked, keyKept: key !== undefined }, storage };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The state as stored, once nothing that may have been served is left below
 * a reservation or the served mark. During a storage fault: its error.
 */
export async function recoveredState(db: Rocks, cipher: QueueCipher): Promise<Persisted> {
  const g = guards.get(db);
  if (g) {
    g.fault.check();
    const report = await g.mark.check(db);
    if (report) for (const fn of g.reports) fn(report);
  }
  const p = await readPersisted(db);
  return (await dropReserved(db, p, cipher)) ? readPersisted(db) : p;
}
