// The queue store against a plain in-memory model of the same semantics, over
// a long seeded run of random operations: messages of several item sizes, some
// ending in a short item (so segments of several sizes and lengths form), takes
// at random offsets, partial items, a full queue's overflow (TRNG: the oldest
// dropped; Fortuna: only what fits taken), shrinking, consume off, and
// restarts. After every step the store must have served exactly the model's
// bytes and hold exactly its items, ids included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OVERFLOW, type Overflow, type QueueStore } from "../../src/engine/queue-store.js";
import type { SourceName } from "../../src/engine/types.js";
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

  /** Returns the bytes of `message` taken. */
  enqueue(message: number[], itemBytes: number, overflow: Overflow): number {
    const items: number[][] = [];
    for (let at = 0; at < message.length; at += itemBytes) items.push(message.slice(at, at + itemBytes));
    if (overflow === "fill") {
      const keep = Math.min(items.length, Math.max(0, this.cap - this.items.length));
      for (const bytes of items.slice(0, keep)) this.items.push({ id: this.nextId++, bytes });
      return items.slice(0, keep).reduce((n, i) => n + i.length, 0);
    }
    const stored = items.length > this.cap ? items.slice(items.length - this.cap) : items;
    // Items dropped on arrival never get an id.
    this.dropped += BigInt(items.length - stored.length);
    this.drop(Math.max(0, this.items.length + stored.length - this.cap));
    for (const bytes of stored) this.items.push({ id: this.nextId++, bytes });
    return message.length;
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

// TRNG takes sync (reservation.ts: no reserve ahead), so its run is shorter.
const RUNS: [SourceName, number, number][] = [["fortuna", 20261129, 600], ["trng", 7, 200]];

for (const [source, seed, steps] of RUNS) test(`the ${source} queue serves and keeps exactly what a plain model of its semantics does`, { timeout: 120_000 }, async () => {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const dir = tempDir("model");
  const model = new Model(300);
  let byte = 0;
  const sizes = () => ({ trng: model.cap, fortuna: model.cap });
  let store: QueueStore = await openStore(dir.path, sizes());
  const check = async (step: string) => {
    const c = store.counters(source);
    assert.equal(c.items, BigInt(model.items.length), `${step}: item count`);
    assert.equal(c.consumed, model.consumed, `${step}: consumed`);
    assert.equal(c.dropped, model.dropped, `${step}: dropped`);
    assert.equal(c.next_id, model.nextId, `${step}: next id`);
    assert.ok(balanced(c), `${step}: balanced`);
    const stored = (await store.items(source)).map((i) => ({ id: i.id, bytes: [...i.data] }));
    assert.deepEqual(stored, model.items, `${step}: stored items`);
  };
  try {
    for (let step = 0; step < steps; step++) {
      const r = rnd();
      const name = `step ${step}`;
      if (r < 0.3) {
        // A message of items of one size (one or more segments), sometimes ending in a short one.
        const size = [1, 4, 32, 1000, 7000][int(0, 4)];
        const length = int(1, 40) * size - (size > 1 && rnd() < 0.2 ? int(1, size - 1) : 0);
        const message = Array.from({ length }, () => byte++ & 0xff);
        const taken = model.enqueue(message, size, OVERFLOW[source]);
        assert.equal((await store.enqueue(source, Uint8Array.from(message), size)).taken, taken, `${name}: bytes taken`);
      } else if (r < 0.8) {
        const total = model.bytes;
        const offset = rnd() < 0.6 ? 0 : int(0, total);
        // Small takes cut holes inside one item; large ones span segments.
        const size = rnd();
        const n = int(1, Math.max(1, Math.min(total + 10, size < 0.3 ? 8 : size < 0.65 ? 200 : 40000)));
        const consume = rnd() < 0.9;
        const want = model.take(offset, n, consume);
        const got = await store.take(source, n, offset, { consume });
        assert.deepEqual(got === null ? null : [...got], want, `${name}: take ${n} at ${offset}`);
      } else if (r < 0.9) {
        const max = int(1, 5000);
        const want = model.take(0, Math.min(max, model.bytes), true) ?? [];
        assert.deepEqual([...(await store.takeSome(source, max))], want, `${name}: takeSome ${max}`);
      } else if (r < 0.95) {
        const cap = int(5, 400);
        model.cap = cap;
        model.drop(Math.max(0, model.items.length - cap));
        await store.setQueueSizes({ [source]: cap });
      } else {
        await store.close();
        store = await openStore(dir.path, sizes());
      }
      await check(name);
    }
  } finally {
    await store.close().catch(() => undefined);
    dir.remove();
  }
});
