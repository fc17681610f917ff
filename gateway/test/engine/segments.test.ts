// Segment arithmetic, exhaustively: every gap [a, b) in segments of several
// shapes must leave exactly the items a per-item removal leaves, under the
// same ids, in well-formed segments.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cutSegment, itemsOf, packSegments, SEGMENT_BYTES, type Segment } from "../../src/engine/segments.js";

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

test("packing: runs of equal-sized items, at most SEGMENT_BYTES each, ids in arrival order", () => {
  const items = [...Array(40).fill(1000), 7, 7, 3, ...Array(3).fill(SEGMENT_BYTES + 1)].map((n, i) => new Uint8Array(n).fill(i));
  const segs = packSegments(10n, items);
  assert.deepEqual(
    segs.map((s) => [s.first, s.count, s.itemBytes]),
    [[10n, 16, 1000], [26n, 16, 1000], [42n, 8, 1000], [50n, 2, 7], [52n, 1, 3], [53n, 1, SEGMENT_BYTES + 1], [54n, 1, SEGMENT_BYTES + 1], [55n, 1, SEGMENT_BYTES + 1]],
  );
  assert.deepEqual(segs.flatMap(itemsOf).map((i) => [i.id, i.data[0], i.data.length]), items.map((d, i) => [10n + BigInt(i), d[0], d.length]));
});

test("packing items cut from one message keeps them in place; scattered items are copied", () => {
  const message = Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 0xff));
  const cut = Array.from({ length: 4 }, (_, i) => message.subarray(i * 1024, (i + 1) * 1024));
  const [whole] = packSegments(0n, cut);
  assert.equal(whole.data.buffer, message.buffer, "a view, not a copy");
  assert.deepEqual([...whole.data], [...message]);
  // Out of order, or from two buffers: the bytes still come out in item order.
  const shuffled = packSegments(0n, [cut[1], cut[0]]);
  assert.deepEqual([...shuffled[0].data], [...cut[1], ...cut[0]]);
  assert.notEqual(shuffled[0].data.buffer, message.buffer);
});

test("packing a batch that starts inside one message: no segment reaches across messages, none is a copy", () => {
  const messages = [0, 1, 2].map((m) => Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (m * 7 + i) & 0xff)));
  const items = messages.flatMap((m) => Array.from({ length: 64 }, (_, i) => m.subarray(i * 1024, (i + 1) * 1024)));
  // The queue had room for part of the first message only: the batch starts at its 61st item.
  const batch = items.slice(60);
  const segs = packSegments(0n, batch);
  for (const s of segs) assert.ok(messages.some((m) => s.data.buffer === m.buffer), `segment ${s.first} is a view of one message`);
  assert.deepEqual(segs.map((s) => s.count), [4, 16, 16, 16, 16, 16, 16, 16, 16]);
  assert.deepEqual(Buffer.concat(segs.map((s) => s.data)), Buffer.concat(batch));
  // One item left of a message, then scattered ones: copied together, as before.
  const scattered = [batch[3], ...[0, 1, 2].map((i) => Buffer.alloc(1024, i))];
  const [one, ...rest] = packSegments(0n, scattered);
  assert.equal(rest.length, 0, "a single segment");
  assert.deepEqual(one.data, Buffer.concat(scattered));
});
