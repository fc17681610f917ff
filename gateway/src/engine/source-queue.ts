// One source's queue as the store mutates it: its counters (current, and as
// last written), the head window, usage and the pulses callers wait on. Each
// mutation edits memory synchronously and adds its writes to the caller's
// batch; the store (queue-store.ts) decides when mutations may run and commits.
import type { BatchOp, Rocks } from "./rocks.js";
import { HeadWindow, type WindowSource } from "./head-window.js";
import { segmentKey } from "./keys.js";
import { Pulse } from "./lock.js";
import { counterOps, type Persisted, type SourceCounters } from "./persisted-state.js";
import type { QueueCipher } from "./queue-cipher.js";
import { release as releaseReservation, reserve, type Durability } from "./reservation.js";
import { packSegments } from "./segments.js";
import { UsageMeter } from "./usage.js";
import type { SourceName } from "./types.js";

export class SourceQueue {
  /** Includes mutations whose batch is not written yet. */
  counters: SourceCounters;
  /** As last written. */
  private persisted: SourceCounters;
  private usage: UsageMeter;
  readonly window: HeadWindow;
  /** Fires after items were added. */
  readonly added = new Pulse();
  /** Fires after items were removed or capacity grew. */
  readonly room = new Pulse();

  constructor(
    db: Rocks,
    readonly source: SourceName,
    p: Persisted,
    flushed: () => Promise<void>,
    private readonly cipher: QueueCipher,
  ) {
    this.counters = { ...p.counters[source] };
    this.persisted = p.counters[source];
    this.usage = new UsageMeter(p.usage[source]);
    // The window looks the counters up at each call: reset() replaces them.
    const queue: WindowSource = { nextId: () => this.counters.next_id, flushed };
    this.window = new HeadWindow(db, source, queue, p.heads[source], cipher);
  }

  /**
   * Appends items, the oldest dropped (counted) when more than `cap` would be
   * queued; the window must hold the items to drop. Returns how many were dropped.
   * The items' buffers become the queue's (zeroed once they leave it).
   */
  append(items: Uint8Array[], polls: number, cap: number, ops: BatchOp[]): number {
    const incoming = items.length;
    const stored = incoming > cap ? items.slice(incoming - cap) : items;
    for (let i = 0; i < incoming - stored.length; i++) items[i].fill(0);
    const overflow = this.overflow(incoming, cap);
    this.window.dropFront(overflow, ops);
    const c = this.counters;
    let at = 0;
    for (const seg of packSegments(c.next_id, stored)) {
      ops.push({ type: "put", key: segmentKey(this.source, seg), value: this.cipher.seal(seg.data) });
      // Items copied into a segment are not needed any more.
      if (seg.data.buffer !== stored[at].buffer) for (let k = at; k < at + seg.count; k++) stored[k].fill(0);
      at += seg.count;
      this.window.offer(seg);
    }
    c.next_id += BigInt(stored.length);
    const dropped = incoming - stored.length + overflow;
    c.items += BigInt(stored.length - overflow);
    c.dropped += BigInt(dropped);
    c.polling += BigInt(polls);
    c.total_generated += BigInt(incoming);
    return dropped;
  }

  /** Queued items an append of `incoming` items would push out. */
  overflow(incoming: number, cap: number): number {
    return Math.max(0, Number(this.counters.items) + Math.min(incoming, cap) - cap);
  }

  /** Drops the `n` oldest items (counted); the window must hold them. */
  dropOldest(n: number, ops: BatchOp[]): void {
    this.window.dropFront(n, ops);
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
    return reserve(this.source, this.counters, this.persisted.reserved, served);
  }

  /** Counts a request of `bytes` in the usage statistics. */
  countRequest(bytes: number): void {
    this.usage.count(bytes);
  }

  /** Adds the writes of the counters and usage as they are now; call the result once they are written. */
  cut(ops: BatchOp[]): () => void {
    const now = { ...this.counters };
    counterOps(this.source, now, this.persisted, ops);
    const usage = this.usage.cut(this.source);
    if (usage) ops.push(usage);
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
    this.usage = new UsageMeter(p.usage[this.source]);
    this.window.reset(p.heads[this.source]);
  }
}
