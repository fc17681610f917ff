// Segment arithmetic, exhaustively: every gap [a, b) in segments of several
// shapes must leave exactly the items a per-item removal leaves, under the
// same ids, in well-formed segments.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cutSegment, itemsOf, segmentsOf, SEGMENT_BYTES, type Segment } from "../../src/engine/segments.js";

/** `count` items of `itemBytes` bytes, the first one `first` bytes, filled with distinct bytes. */
function segment(firstBytes: number, itemBytes: number, count: number): Segment {
  const length = firstBytes + (count - 1) * itemBytes;
  return { first: 100n, count, itemBytes, data: Buffer.from(Array.from({ length }, (_, i) => i)) };
}

function wellFormed(p: Segment): void {
  const first = p.data.length - (p.count - 1) * p.itemBytes;
  assert.ok(p.count >= 1 && first >= 1 && first <= p.itemBytes, `first item of ${first} bytes, items of ${p.itemBytes}, count ${p.count}`);
}

const shapes: [number, number, number][] = [
  [4, 4, 1],
  [4, 4, 5],
  [3, 4, 4],
  [1, 5, 3],
  [7, 7, 2],
];

for (const [firstBytes, itemBytes, count] of shapes) {
  test(`every gap in a segment of ${count} items (${firstBytes} then ${itemBytes} bytes)`, () => {
    const s = segment(firstBytes, itemBytes, count);
    const before = itemsOf(s).map((i) => ({ id: i.id, bytes: [...i.data] }));
    for (let a = 0; a < s.data.length; a++) {
      for (let b = a + 1; b <= s.data.length; b++) {
        const { pieces, removed } = cutSegment(s, a, b);
        const want: { id: bigint; bytes: number[] }[] = [];
        let pos = 0;
        let gone = 0;
        for (const item of before) {
          const kept = item.bytes.filter((_, j) => pos + j < a || pos + j >= b);
          pos += item.bytes.length;
          if (kept.length > 0) want.push({ id: item.id, bytes: kept });
          else gone++;
        }
        pieces.forEach(wellFormed);
        const got = pieces.flatMap((p) => itemsOf(p)).map((i) => ({ id: i.id, bytes: [...i.data] }));
        assert.deepEqual(got, want, `gap [${a}, ${b})`);
        assert.equal(removed, gone, `gap [${a}, ${b}): removed`);
      }
    }
  });
}

test("a message is cut into segments of whole items, at most SEGMENT_BYTES each, viewing it", () => {
  const message = Buffer.from(Array.from({ length: 40 * 1000 }, (_, i) => (i * 7) & 0xff));
  const segs = segmentsOf(10n, message, 1000);
  assert.deepEqual(segs.map((s) => [s.first, s.count, s.itemBytes]), [[10n, 16, 1000], [26n, 16, 1000], [42n, 8, 1000]]);
  for (const s of segs) assert.equal(s.data.buffer, message.buffer, `segment ${s.first} is a view, not a copy`);
  assert.deepEqual(Buffer.concat(segs.map((s) => s.data)), message);
  assert.deepEqual(segs.flatMap(itemsOf).map((i) => [i.id, i.data.length]), Array.from({ length: 40 }, (_, i) => [10n + BigInt(i), 1000]));
});

test("a message ending in a short item keeps it as a segment of its own; items larger than a segment go one per segment", () => {
  const message = new Uint8Array(3 * 7 + 3).map((_, i) => i);
  assert.deepEqual(segmentsOf(0n, message, 7).map((s) => [s.first, s.count, s.itemBytes, s.data.length]), [[0n, 3, 7, 21], [3n, 1, 3, 3]]);
  assert.deepEqual(segmentsOf(5n, message.subarray(0, 2), 7).map((s) => [s.first, s.count, s.itemBytes]), [[5n, 1, 2]]);
  const big = new Uint8Array(2 * (SEGMENT_BYTES + 1));
  assert.deepEqual(segmentsOf(0n, big, SEGMENT_BYTES + 1).map((s) => [s.first, s.count]), [[0n, 1], [1n, 1]]);
  assert.deepEqual(segmentsOf(0n, new Uint8Array(0), 7), []);
});
