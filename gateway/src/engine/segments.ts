// Segments: runs of consecutive queue items stored as one RocksDB entry (see
// keys.ts). Here, the arithmetic of items inside a segment and what is left of
// one when a range of its bytes is served; no I/O.
import type { SegmentKey } from "./keys.js";

/** Most bytes enqueues put in one segment: big enough that a 100 KB take touches a handful of entries, small enough that rewriting a partly served one stays cheap. */
export const SEGMENT_BYTES = 16 * 1024;

export interface Segment extends SegmentKey {
  /** The items' bytes; the first item is whatever `itemBytes` * (count - 1) leaves. */
  data: Buffer;
}

export const firstItemBytes = (s: Segment): number => s.data.length - (s.count - 1) * s.itemBytes;

/** Byte offset where item `i` of `s` starts. */
export const itemStart = (s: Segment, i: number): number => (i === 0 ? 0 : firstItemBytes(s) + (i - 1) * s.itemBytes);

/** Byte offset just past item `i` of `s`. */
export const itemEnd = (s: Segment, i: number): number => firstItemBytes(s) + i * s.itemBytes;

/** Index of the item holding byte `at` of `s`. */
export function itemAt(s: Segment, at: number): number {
  const f = firstItemBytes(s);
  return at < f ? 0 : 1 + Math.floor((at - f) / s.itemBytes);
}

/** The items of `s` from index `i` on, as a segment (undefined when none). */
export function itemsFrom(s: Segment, i: number): Segment | undefined {
  if (i >= s.count) return undefined;
  if (i === 0) return s;
  return { first: s.first + BigInt(i), count: s.count - i, itemBytes: s.itemBytes, data: s.data.subarray(itemEnd(s, i - 1)) };
}

/**
 * Removes bytes [a, b) of `s` (0 <= a < b <= length). Items wholly inside are
 * gone (`removed` counts them); a partly served item keeps its other bytes
 * under its id. What is left is at most three segments, in order: the whole
 * items before the gap, the remnant of the item where the gap starts (when it
 * keeps bytes there, as its own one-item segment), and the rest, led by the
 * remnant of the item where the gap ends.
 */
export function cutSegment(s: Segment, a: number, b: number): { pieces: Segment[]; removed: number } {
  const ia = itemAt(s, a);
  const ib = itemAt(s, b - 1);
  const kept = a - itemStart(s, ia); // bytes of item ia before the gap
  const tail = itemEnd(s, ib) - b; // bytes of item ib after the gap
  const pieces: Segment[] = [];
  if (ia > 0) pieces.push({ first: s.first, count: ia, itemBytes: s.itemBytes, data: s.data.subarray(0, itemStart(s, ia)) });
  let restFrom: number; // index of the first item of the rest
  let restData: Buffer;
  if (kept > 0) {
    // A gap inside one item leaves one item of both remnants.
    const both = ia === ib && tail > 0;
    const data = both ? Buffer.concat([s.data.subarray(a - kept, a), s.data.subarray(b, b + tail)]) : s.data.subarray(a - kept, a);
    pieces.push({ first: s.first + BigInt(ia), count: 1, itemBytes: data.length, data });
    restFrom = both || tail === 0 ? ib + 1 : ib;
    restData = s.data.subarray(both || tail === 0 ? itemEnd(s, ib) : b);
  } else {
    restFrom = tail > 0 ? ib : ib + 1;
    restData = s.data.subarray(tail > 0 ? b : itemEnd(s, ib));
  }
  if (restFrom < s.count) pieces.push({ first: s.first + BigInt(restFrom), count: s.count - restFrom, itemBytes: s.itemBytes, data: restData });
  const partial = ia === ib ? (kept + tail > 0 ? 1 : 0) : (kept > 0 ? 1 : 0) + (tail > 0 ? 1 : 0);
  return { pieces, removed: ib - ia + 1 - partial };
}

/**
 * The items of one upstream message as segments that view it (no copy):
 * `itemBytes` each, at most SEGMENT_BYTES a segment (one item at least), and
 * a last item shorter than the others, if the message ends in one, on its
 * own (a segment's items are all `itemBytes` long but its first).
 */
export function segmentsOf(firstId: bigint, message: Uint8Array, itemBytes: number): Segment[] {
  const data = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const whole = Math.floor(data.length / itemBytes);
  const perSegment = Math.max(1, Math.floor(SEGMENT_BYTES / itemBytes));
  const out: Segment[] = [];
  for (let i = 0; i < whole; i += perSegment) {
    const count = Math.min(perSegment, whole - i);
    out.push({ first: firstId + BigInt(i), count, itemBytes, data: data.subarray(i * itemBytes, (i + count) * itemBytes) });
  }
  const rest = data.length - whole * itemBytes;
  if (rest > 0) out.push({ first: firstId + BigInt(whole), count: 1, itemBytes: rest, data: data.subarray(whole * itemBytes) });
  return out;
}

/** The items of `s`, each with its id. */
export function itemsOf(s: Segment): { id: bigint; data: Buffer }[] {
  return Array.from({ length: s.count }, (_, i) => ({ id: s.first + BigInt(i), data: s.data.subarray(itemStart(s, i), itemEnd(s, i)) }));
}

/** `parts` one after the other in a new array of `total` bytes. */
export function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
