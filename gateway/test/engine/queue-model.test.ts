// The queue store against a plain in-memory model of the same semantics, over
// a long seeded run of random operations: enqueues of mixed item sizes (so
// segments of several sizes and lengths form), takes at random offsets, partial
// items, drops on overflow, shrinking, consume off, and restarts. After every
// step the store must have served exactly the model's bytes and hold exactly
// its items, ids included.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { QueueStore } from "../../src/engine/queue-store.js";
import { balanced, openStore, tempDir } from "./helpers.js";

interface Item {
  id: bigint;
  bytes: number[];
}

class Model {
  items: Item[] = [];
  nextId = 0n;
  consumed = 0n;
  dropped = 0n;
  constructor(public cap: number) {}

  get bytes(): number {
    return this.items.reduce((n, i) => n + i.bytes.length, 0);
  }

  enqueue(items: number[][]): void {
    const stored = items.length > this.cap ? items.slice(items.length - this.cap) : items;
    // Items dropped on arrival never get an id.
    this.dropped += BigInt(items.length - stored.length);
    this.drop(Math.max(0, this.items.length + stored.length - this.cap));
    for (const bytes of stored) this.items.push({ id: this.nextId++, bytes });
  }

  drop(n: number): void {
    this.items.splice(0, n);
    this.dropped += BigInt(n);
  }

  /** Bytes [offset, offset + n), removed when `consume`; null when the queue is shorter. */
  take(offset: number, n: number, consume: boolean): number[] | null {
    if (offset + n > this.bytes) return null;
    const out: number[] = [];
    let pos = 0;
    const left: Item[] = [];
    for (const item of this.items) {
      const a = Math.max(0, offset - pos);
      const b = Math.min(item.bytes.length, offset + n - pos);
      pos += item.bytes.length;
      if (a >= b) {
        left.push(item);
        continue;
      }
      out.push(...item.bytes.slice(a, b));
      const rest = [...item.bytes.slice(0, a), ...item.bytes.slice(b)];
      if (!consume || rest.length === item.bytes.length) left.push(item);
      else if (rest.length > 0) left.push({ id: item.id, bytes: rest });
      else this.consumed++;
    }
    if (consume) this.items = left;
    return out;
  }
}

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

test("the store serves and keeps exactly what a plain model of its semantics does", { timeout: 120_000 }, async () => {
  const rnd = prng(20261129);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const dir = tempDir("model");
  const model = new Model(300);
  let byte = 0;
  let store: QueueStore = await openStore(dir.path, { trng: 10, fortuna: model.cap });
  const check = async (step: string) => {
    const c = store.counters("fortuna");
    assert.equal(c.items, BigInt(model.items.length), `${step}: item count`);
    assert.equal(c.consumed, model.consumed, `${step}: consumed`);
    assert.equal(c.dropped, model.dropped, `${step}: dropped`);
    assert.equal(c.next_id, model.nextId, `${step}: next id`);
    assert.ok(balanced(c), `${step}: balanced`);
    const stored = (await store.items("fortuna")).map((i) => ({ id: i.id, bytes: [...i.data] }));
    assert.deepEqual(stored, model.items, `${step}: stored items`);
  };
  try {
    for (let step = 0; step < 700; step++) {
      const r = rnd();
      const name = `step ${step}`;
      if (r < 0.3) {
        // A batch of items: mostly one size (one or more segments), sometimes mixed.
        const count = int(1, 40);
        const size = [1, 4, 32, 1000, 7000][int(0, 4)];
        const items = Array.from({ length: count }, () => Array.from({ length: rnd() < 0.2 ? int(1, 50) : size }, () => byte++ & 0xff));
        model.enqueue(items);
        await store.enqueue("fortuna", items.map((i) => Uint8Array.from(i)));
      } else if (r < 0.8) {
        const total = model.bytes;
        const offset = rnd() < 0.6 ? 0 : int(0, total);
        // Small takes cut holes inside one item; large ones span segments.
        const size = rnd();
        const n = int(1, Math.max(1, Math.min(total + 10, size < 0.3 ? 8 : size < 0.65 ? 200 : 40000)));
        const consume = rnd() < 0.9;
        const want = model.take(offset, n, consume);
        const got = await store.take("fortuna", n, offset, { consume });
        assert.deepEqual(got === null ? null : [...got], want, `${name}: take ${n} at ${offset}`);
      } else if (r < 0.9) {
        const max = int(1, 5000);
        const want = model.take(0, Math.min(max, model.bytes), true) ?? [];
        assert.deepEqual([...(await store.takeSome("fortuna", max))], want, `${name}: takeSome ${max}`);
      } else if (r < 0.95) {
        const cap = int(5, 400);
        model.cap = cap;
        model.drop(Math.max(0, model.items.length - cap));
        await store.setQueueSizes({ fortuna: cap });
      } else {
        await store.close();
        store = await openStore(dir.path, { trng: 10, fortuna: model.cap });
      }
      await check(name);
    }
  } finally {
    await store.close().catch(() => undefined);
    dir.remove();
  }
});
