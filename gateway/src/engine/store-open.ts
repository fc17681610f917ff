// What opening the queue store does before anything is served: it stores the
// default settings where none are stored, drops items written under another
// queue key (queue-key.ts), and drops what an unclean stop left below the
// reservation (reservation.ts); then the state is read as stored. After a
// failed write the store rebuilds its state the same way (recoveredState).
import { randomBytes } from "node:crypto";
import { Rocks } from "./rocks.js";
import { readPersisted, readSettings, type Persisted } from "./persisted-state.js";
import { QueueCipher, QUEUE_KEY_BYTES } from "./queue-cipher.js";
import { dropUnderOtherKey, type KeyCheck } from "./queue-key.js";
import { dropReserved } from "./reservation.js";
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
}

/** Opens (creating) the database; `defaults` apply only where nothing is persisted yet. */
export async function openDatabase(path: string, defaults: { sizes: QueueSizes; consume: boolean }, key?: Uint8Array): Promise<Opened> {
  const db = await Rocks.open(path);
  try {
    const { sizes, consume, init } = await readSettings(db, defaults);
    await db.batch(init, true);
    const k = key ?? randomBytes(QUEUE_KEY_BYTES);
    const cipher = new QueueCipher(k);
    if (!key) k.fill(0);
    const checked = await dropUnderOtherKey(db, cipher.check);
    const state = await recoveredState(db, cipher);
    return { db, sizes, consume, state, cipher, atRest: { ...checked, keyKept: key !== undefined } };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/** The state as stored, once nothing that may have been served is left below a reservation. */
export async function recoveredState(db: Rocks, cipher: QueueCipher): Promise<Persisted> {
  const p = await readPersisted(db);
  return (await dropReserved(db, p, cipher)) ? readPersisted(db) : p;
}
