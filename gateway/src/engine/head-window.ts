// The head of one source's queue mirrored in memory: a window of whole
// segments (runs of items stored as one entry, segments.ts), in order, from
// the first item of the queue. Takes decide what they serve from it
// synchronously, without reading the database, so concurrent takes get
// disjoint bytes by construction. Enqueues extend it while it is the whole
// queue and under WINDOW_BYTES; segments beyond it (a queue bigger than the
// budget) are read back in one iterator pass per LOAD_BYTES.
//
// The window only edits itself and adds the matching write operations to the
// caller's batch; the caller counts and commits. It holds plaintext; what it
// writes is encrypted (queue-cipher.ts), what it reads back is decrypted, and
// bytes that leave the queue are zeroed here.

import type { BatchOp, Rocks } from "./rocks.js";
import { Mutex } from "./lock.js";
import { parseSegmentKey, segmentKey, segmentsFrom } from "./keys.js";
import type { QueueCipher } from "./queue-cipher.js";
import { cutSegment, itemAt, itemsFrom, type Segment } from "./segments.js";
import type { SourceName } from "./types.js";

/** Most bytes of a queue's head that enqueues keep in memory (the default Fortuna queue, 5000 x 1 KiB, fits). */
export const WINDOW_BYTES = 16 * 1024 * 1024;
/** Bytes read back from the database in one pass when the window runs short. */
const LOAD_BYTES = 4 * 1024 * 1024;
/**
 * Read-ahead of that pass. Each trip to the thread pool waits a turn of the
 * event loop, the slow part under load (1 MiB trips read back ~90 MB/s), so a
 * pass takes one or two (the native iterator also stops at 1000 entries).
 */
const LOAD_READ_AHEAD_BYTES = 8 * 1024 * 1024;

/** What a serve touched. */
export interface Served {
  /** Items whose last byte went (consume only). */
  removed: number;
  /** Id of the last item bytes were served from. */
  last: bigint;
  /** Item size in the segment holding it. */
  itemBytes: number;
}

const NOTHING_SERVED: Served = { removed: 0, last: -1n, itemBytes: 0 };

export interface WindowSource {
  /** The id the next enqueued item gets (includes items not written yet). */
  nextId(): bigint;
  /** Resolves once everything queued for writing is in the database. */
  flushed(): Promise<void>;
}

export class HeadWindow {
  /** Serializes reads of items beyond the window. */
  private readonly loadLock = new Mutex();
  /** win[at..] are the queue's first segments, in order. */
  private win: Segment[] = [];
  private at = 0;
  private winBytes = 0;
  private winItems = 0;
  /** Every item with an id below this is in the window; at next_id the window is the whole queue. */
  private end: bigint;
  /** Bumped when the window is invalidated, so a load in flight then is discarded. */
  private generation = 0;

  /** @param head the id of the queue's first item (next_id when empty). */
  constructor(
    private readonly db: Rocks,
    private readonly source: SourceName,
    private readonly queue: WindowSource,
    head: bigint,
    private readonly cipher: QueueCipher,
  ) {
    this.end = head;
  }

  /** Bytes in the window. */
  get bytes(): number {
    return this.winBytes;
  }

  /** True when the window holds the first `bytes` bytes and `items` items of the queue, or all of it. */
  covers(bytes: number, items: number): boolean {
    return this.end === this.queue.nextId() || (this.winBytes >= bytes && this.winItems >= items);
  }

  /** Extends the window from the database: one iterator pass of at least LOAD_BYTES. */
  load(bytes: number, items: number): Promise<void> {
    return this.loadLock.run(async () => {
      if (this.covers(bytes, items)) return;
      const generation = this.generation;
      const from = this.end;
      // Everything below `upTo` is queued for writing; once flushed, the database has it.
      const upTo = this.queue.nextId();
      await this.queue.flushed();
      const got: Segment[] = [];
      let gotBytes = 0;
      let gotItems = 0;
      let stopped = false;
      const needBytes = Math.max(LOAD_BYTES, bytes - this.winBytes);
      const needItems = items - this.winItems;
      await this.db.scan({ gte: segmentsFrom(this.source, from), lt: segmentsFrom(this.source, upTo), readAheadBytes: LOAD_READ_AHEAD_BYTES }, (k, v) => {
        const seg = { ...parseSegmentKey(k), data: this.cipher.open(v) };
        got.push(seg);
        gotBytes += seg.data.length;
        gotItems += got[got.length - 1].count;
        if (gotBytes >= needBytes && gotItems >= needItems) {
          stopped = true;
          return false;
        }
      });
      // Mutations never touch segments past the window, so what was read is
      // still current, unless a failed write reset the state meanwhile.
      if (generation !== this.generation || this.end !== from) {
        for (const seg of got) seg.data.fill(0);
        return;
      }
      for (const seg of got) this.win.push(seg);
      this.winBytes += gotBytes;
      this.winItems += gotItems;
      const last = got[got.length - 1];
      this.end = stopped ? last.first + BigInt(last.count) : upTo;
    });
  }

  /** Resolves once no load is in flight. */
  idle(): Promise<void> {
    return this.loadLock.run(async () => undefined);
  }

  /**
   * Takes a just-enqueued segment in if it directly follows the window and
   * fits the budget; otherwise zeroes it (it is stored, encrypted).
   */
  offer(seg: Segment): void {
    if (this.end === seg.first && this.winBytes + seg.data.length <= WINDOW_BYTES) {
      this.win.push(seg);
      this.winBytes += seg.data.length;
      this.winItems += seg.count;
      this.end = seg.first + BigInt(seg.count);
    } else {
      seg.data.fill(0);
    }
  }

  /** Removes the `n` oldest items (all in the window), adding the writes to `ops`; returns their bytes. */
  dropFront(n: number, ops: BatchOp[]): number {
    let left = n;
    let bytes = 0;
    while (left > 0) {
      const seg = this.win[this.at];
      const k = Math.min(left, seg.count);
      const rest = itemsFrom(seg, k);
      ops.push({ type: "del", key: segmentKey(this.source, seg) });
      if (rest) {
        ops.push({ type: "put", key: segmentKey(this.source, rest), value: this.cipher.seal(rest.data) });
        this.win[this.at] = rest;
      } else {
        this.win[this.at++] = undefined as never;
      }
      const gone = seg.data.length - (rest?.data.length ?? 0);
      seg.data.fill(0, 0, gone);
      this.winBytes -= gone;
      this.winItems -= k;
      bytes += gone;
      left -= k;
    }
    this.compact();
    return bytes;
  }

  /**
   * Copies window bytes [offset, offset + n) into `out`; with `consume`,
   * removes them: fully served items go, a partly served one keeps its other
   * bytes (segments.ts, cutSegment), encrypted again with fresh keystream, and the
   * served bytes are zeroed here once copied.
   */
  serve(offset: number, n: number, consume: boolean, out: Uint8Array, ops: BatchOp[]): Served {
    if (n === 0) return NOTHING_SERVED;
    const end = offset + n;
    let pos = 0;
    let i = this.at;
    while (pos + this.win[i].data.length <= offset) pos += this.win[i++].data.length;
    const first = i;
    const kept: Segment[] = [];
    let copied = 0;
    let removed = 0;
    let last = 0n;
    let itemBytes = 0;
    for (; copied < n; i++) {
      const seg = this.win[i];
      const a = Math.max(0, offset - pos);
      const b = Math.min(seg.data.length, end - pos);
      out.set(seg.data.subarray(a, b), copied);
      copied += b - a;
      pos += seg.data.length;
      last = seg.first + BigInt(itemAt(seg, b - 1));
      itemBytes = seg.itemBytes;
      if (!consume) continue;
      const cut = cutSegment(seg, a, b);
      removed += cut.removed;
      const key = segmentKey(this.source, seg);
      let overwritten = false;
      for (const p of cut.pieces) {
        const pk = segmentKey(this.source, p);
        overwritten ||= pk.equals(key);
        ops.push({ type: "put", key: pk, value: this.cipher.seal(p.data) });
        kept.push(p);
      }
      if (!overwritten) ops.push({ type: "del", key });
      seg.data.fill(0, a, b);
    }
    if (!consume) return { removed: 0, last, itemBytes };
    if (first === this.at && kept.length <= i - first) {
      // Served from the front (the usual case): move the start, no copying.
      this.at = i - kept.length;
      for (let k = 0; k < kept.length; k++) this.win[this.at + k] = kept[k];
      for (let k = first; k < this.at; k++) this.win[k] = undefined as never;
    } else {
      this.win.splice(first, i - first, ...kept);
    }
    this.winBytes -= n;
    this.winItems -= removed;
    this.compact();
    this.prefetch();
    return { removed, last, itemBytes };
  }

  /** Id of the queue's first item (the next id when it is empty). */
  get head(): bigint {
    return this.at < this.win.length ? this.win[this.at].first : this.end;
  }

  /** Makes any load in flight discard what it read (memory is no longer trusted). */
  invalidate(): void {
    this.generation++;
  }

  /** Empties the window, which now starts at `head`. */
  reset(head: bigint): void {
    this.clear();
    this.end = head;
    this.generation++;
  }

  /** Zeroes and forgets what the window holds (the database keeps it). */
  clear(): void {
    for (let i = this.at; i < this.win.length; i++) this.win[i].data.fill(0);
    this.win = [];
    this.at = 0;
    this.winBytes = 0;
    this.winItems = 0;
  }

  /**
   * Tops the window up from a long queue once it is half empty, so the read
   * (tens of ms under load) ends before takes reach the window's end.
   */
  private prefetch(): void {
    if (this.winBytes >= WINDOW_BYTES / 2 || this.covers(WINDOW_BYTES / 2, 0)) return;
    // A failure here is met again (and reported) by the take that needs the bytes.
    this.load(WINDOW_BYTES, 0).catch(() => undefined);
  }

  /** Drops the consumed front of the window array once it dominates. */
  private compact(): void {
    if (this.at > 1024 && this.at * 2 > this.win.length) {
      this.win = this.win.slice(this.at);
      this.at = 0;
    }
  }
}
