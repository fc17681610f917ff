import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff } from "../src/index.js";

test("back-off doubles from minMs up to maxMs, and starts over after a success", () => {
  const b = new Backoff({ minMs: 250, maxMs: 1500 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [250, 500, 1000, 1500, 1500]);
  b.reset();
  assert.deepEqual([b.next(), b.next()], [250, 500]);
  const fixed = new Backoff({ minMs: 100, maxMs: 100 });
  assert.deepEqual([fixed.next(), fixed.next()], [100, 100]);
});

test("no wait exceeds maxMs, even below minMs; negative waits are refused", () => {
  const capped = new Backoff({ minMs: 250, maxMs: 100 });
  assert.deepEqual([capped.next(), capped.next()], [100, 100]);
  assert.throws(() => new Backoff({ minMs: -1, maxMs: 5 }), RangeError);
});
