// One source's queue as the store mutates it: its counters (current, and as
// last written), the head window and the pulses callers wait on. Each
// mutation edits memory synchronously and adds its writes to the caller's
// batch; the store (queue-store.ts, store-gate.ts) decides when mutations may
// run and commits.
import type { BatchOp, Rocks } from "./rocks.js";
import { HeadWindow, type WindowSource } from "./head-window.js";
import { segmentKey } from "./keys.js";
import { Pulse } from "./lock.js";
import { counterOps, type Persisted, type SourceCounters } from "./persisted-state.js";
import type { QueueCipher } from "./queue-cipher.js";
import { release as releaseReservation, reserve, type Durability } from "./reservation.js";
import { segmentsOf } from "./segments.js";
import type { SourceName } from "./types.js";

/**
 * What a full queue does with a new message. "drop-oldest": it takes all of
 * it and drops its oldest items (counted) to make room, keeping the freshest
 * data. "fill": it takes only the items there is room for; the caller keeps
 * the rest and offers it again when room() fires.
 */
export type Overflow = "drop-oldest" | "fill";

/**
 * What each source's queue does with a message that does not fit: the TRNG
 * keeps the freshest hardware samples; Fortuna output is never worth pushing
 * queued output out for, its stream just waits (gateway/README.md).
 */
export const OVERFLOW: Record<SourceName, Overflow> = { trng: "drop-oldest", fortuna: "fill" };

/** What an append did with a message. */
export interface Appended {
  /**
   * Bytes of the message the queue took, from its start: all of it
   * (drop-oldest), or the whole items there was room for (fill). Taken bytes
   * are the queue's: it serves from them and zeroes them once they leave it.
   */
  taken: number;
  /**
   * Items dropped for lack of room (drop-oldest only): queued items pushed
   * out, and the message's own first items when it holds more than the
   * whole queue (those are zeroed at once).
   */
  dropped: number;
}

export class SourceQueue {
  /** Includes mutations whose batch is not written yet. */
  counters: SourceCounters;
  /** As last written. */
  private persisted: SourceCounters;
  readonly window: HeadWindow;
  /** Fires after items were added. */
  readonly added = new Pulse();
  /** Fires after items were removed or capacity grew. */
  readonly room = new Pulse();
  /** Bytes served or dropped since the store last compacted what lies below the head (compaction.ts). */
  removedBytes = 0;
  /** The item size of the last append (0 before any): the queue holds about items x this. */
  itemBytes = 0;

  constructor(
    db: Rocks,
    readonly source: SourceName,
    p: Persisted,
    flushed: () => Promise<void>,
    private readonly cipher: QueueCipher,
  ) {
    this.counters = { ...p.counters[source] };
    this.persisted = p.counters[source];
    // The window looks the counters up at each call: reset() replaces them.
    const queue: WindowSource = { nextId: () => this.counters.next_id, flushed };
    this.window = new HeadWindow(db, source, queue, p.heads[source], cipher);
  }

  /** Items of `message` and which of them an append takes, with `cap` the queue's size. */
  plan(message: Uint8Array, itemBytes: number, cap: number, overflow: Overflow): { count: number; skip: number; keep: number; pushOut: number } {
    const count = Math.ceil(message.length / itemBytes);
    const queued = Number(this.counters.items);
    const keep = overflow === "fill" ? Math.min(count, Math.max(0, cap - queued)) : Math.min(count, cap);
    const skip = overflow === "fill" ? 0 : count - keep;
    return { count, skip, keep, pushOut: Math.max(0, queued + keep - cap) };
  }

  /**
   * Appends the items of `message` (`itemBytes` each, the last may be
   * shorter) as `overflow` says, in segments that view the message; the
   * window must hold the items it pushes out (plan().pushOut).
   */
  append(message: Uint8Array, itemBytes: number, polls: number, cap: number, overflow: Overflow, ops: BatchOp[]): Appended {
    const { count, skip, keep, pushOut } = this.plan(message, itemBytes, cap, overflow);
    this.itemBytes = itemBytes;
    const start = skip * itemBytes;
    const end = skip + keep === count ? message.length : (skip + keep) * itemBytes;
    message.fill(0, 0, start);
    this.removedBytes += this.window.dropFront(pushOut, ops);
    const c = this.counters;
    for (const seg of segmentsOf(c.next_id, message.subarray(start, end), itemBytes)) {
      ops.push({ type: "put", key: segmentKey(this.source, seg), value: this.cipher.seal(seg.data) });
      this.window.offer(seg);
    }
    c.next_id += BigInt(keep);
    c.items += BigInt(keep - pushOut);
    c.dropped += BigInt(skip + pushOut);
    c.polling += BigInt(polls);
    c.total_generated += BigInt(skip + keep);
    return { taken: overflow === "fill" ? end : message.length, dropped: skip + pushOut };
  }

  /** Drops the `n` oldest items (counted); the window must hold them. */
  dropOldest(n: number, ops: BatchOp[]): void {
    this.removedBytes += this.window.dropFront(n, ops);
    this.counters.items -= BigInt(n);
    this.counters.dropped += BigInt(n);
  }

  /**
   * Copies queue bytes [offset, offset + n) into `out`; with `consume`,
   * removes them, counts the items whose last byte went as consumed, and
   * reserves what was served: the result says what the take must wait for
   * (reservation.ts); undefined when it consumed nothing.
   */
  serve(offset: number, n: number, consume: boolean, out: Uint8Array, ops: BatchOp[]): Durability | undefined {
    const served = this.window.serve(offset, n, consume, out, ops);
    this.counters.items -= BigInt(served.removed);
    this.counters.consumed += BigInt(served.removed);
    if (!consume || n === 0) return undefined;
    this.removedBytes += n;
    return reserve(this.source, this.counters, this.persisted.reserved, served);
  }

  /** Adds the writes of the counters as they are now; call the result once they are written. */
  cut(ops: BatchOp[]): () => void {
    const now = { ...this.counters };
    counterOps(this.source, now, this.persisted, ops);
    return () => (this.persisted = now);
  }

  /** Gives the reservation back (a clean close: everything from the head on is unserved). */
  release(): void {
    releaseReservation(this.counters, this.window.head);
  }

  /** Forgets memory for the state as stored (after a failed write). */
  reset(p: Persisted): void {
    this.counters = { ...p.counters[this.source] };
    this.persisted = p.counters[this.source];
    this.window.reset(p.heads[this.source]);
  }
}
