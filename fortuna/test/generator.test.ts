import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FortunaGenerator, NotSeededError, MAX_REQUEST_BYTES, OutputBuffer, type BlockEngine } from "../src/generator.js";
import { CounterBlocks } from "../src/counter-blocks.js";
import { aesBlock, counterBlockLE, refPseudoRandom, refReseed, shad256, type RefState } from "./reference.js";
import { nativeAddonSkip } from "./native-addon.js";

const seedOf = (text: string) => Buffer.from(text, "utf8");
const stateOf = (g: FortunaGenerator): RefState => ({ key: Buffer.from(g.key), counter: g.counter });

test("the default engine is the native one that npm install builds", { skip: nativeAddonSkip }, () => {
  assert.equal(new FortunaGenerator().engine, "native");
});

test("without the addon the default engine is the portable one", { skip: !nativeAddonSkip && "fortuna/native is built" }, () => {
  assert.equal(new FortunaGenerator().engine, "portable");
});

// Every convention, checked against the reference model for both ways of making the blocks.
for (const engine of ["native", "portable"] as const satisfies readonly BlockEngine[]) {
  const seeded = (seed = "seed"): { g: FortunaGenerator; ref: RefState } => {
    const g = new FortunaGenerator({ engine });
    g.reseed(seedOf(seed));
    return { g, ref: refReseed({ key: Buffer.alloc(32), counter: 0n }, seedOf(seed)) };
  };

  describe(`FortunaGenerator (${engine} engine)`, { skip: engine === "native" && nativeAddonSkip }, () => {
    test("starts unseeded: zero key, counter 0, every request refused", () => {
      const g = new FortunaGenerator({ engine });
      assert.deepEqual(g.key, new Uint8Array(32));
      assert.equal(g.counter, 0n);
      assert.equal(g.seeded, false);
      assert.throws(() => g.pseudoRandomData(16), NotSeededError);
      assert.throws(() => g.pseudoRandomData(0), /not seeded/);
      assert.equal(g.counter, 0n);
    });

    test("reseed: K = SHA-256(SHA-256(K || s)), C = C + 1", () => {
      const g = new FortunaGenerator({ engine });
      g.reseed(seedOf("abc"));
      const k1 = shad256(Buffer.alloc(32), seedOf("abc"));
      assert.deepEqual(Buffer.from(g.key), k1);
      assert.equal(g.counter, 1n);
      g.reseed(seedOf("def"));
      assert.deepEqual(Buffer.from(g.key), shad256(k1, seedOf("def")));
      assert.equal(g.counter, 2n);
    });

    test("the counter is a 128-bit little-endian AES input", () => {
      const { g, ref } = seeded();
      const out = g.pseudoRandomData(32);
      const le1 = Buffer.alloc(16);
      le1[0] = 1;
      const le2 = Buffer.alloc(16);
      le2[0] = 2;
      assert.deepEqual(Buffer.from(out.subarray(0, 16)), aesBlock(ref.key, le1));
      assert.deepEqual(Buffer.from(out.subarray(16, 32)), aesBlock(ref.key, le2));
      const be1 = Buffer.alloc(16);
      be1[15] = 1;
      assert.notDeepEqual(Buffer.from(out.subarray(0, 16)), aesBlock(ref.key, be1));
    });

    for (const n of [0, 1, 15, 16, 17, 31, 33, 1000, 4096]) {
      test(`pseudoRandomData(${n}) matches the block-by-block model, then rekeys with two blocks`, () => {
        const { g, ref } = seeded(`n=${n}`);
        const out = g.pseudoRandomData(n);
        const want = refPseudoRandom(ref, n);
        assert.equal(out.length, n);
        assert.deepEqual(Buffer.from(out), want.out);
        assert.deepEqual(Buffer.from(g.key), want.state.key);
        assert.equal(g.counter, 1n + BigInt(Math.ceil(n / 16)) + 2n);
        assert.equal(g.counter, want.state.counter);
      });
    }

    test("successive requests differ from one long request (rekey in between)", () => {
      const a = seeded("same");
      const b = seeded("same");
      const twice = Buffer.concat([a.g.pseudoRandomData(64), a.g.pseudoRandomData(64)]);
      const once = Buffer.from(b.g.pseudoRandomData(128));
      assert.deepEqual(twice.subarray(0, 64), once.subarray(0, 64));
      assert.notDeepEqual(twice.subarray(64), once.subarray(64));
      const r1 = refPseudoRandom(a.ref, 64);
      const r2 = refPseudoRandom(r1.state, 64);
      assert.deepEqual(twice, Buffer.concat([r1.out, r2.out]));
    });

    test("a request of exactly 2^20 bytes is allowed and exact; one byte more is refused, state untouched", () => {
      const { g, ref } = seeded("max");
      const out = g.pseudoRandomData(MAX_REQUEST_BYTES);
      const want = refPseudoRandom(ref, MAX_REQUEST_BYTES);
      assert.equal(MAX_REQUEST_BYTES, 1048576);
      assert.ok(Buffer.from(out).equals(want.out));
      assert.deepEqual(stateOf(g), want.state);
      for (const bad of [MAX_REQUEST_BYTES + 1, -1, 1.5, Number.NaN, Infinity]) {
        assert.throws(() => g.pseudoRandomData(bad), RangeError, String(bad));
        assert.deepEqual(stateOf(g), want.state);
      }
    });

    test("the returned bytes' buffer holds nothing beyond them (no new key, no spare block bytes)", () => {
      const { g } = seeded();
      const out = g.pseudoRandomData(5);
      const key = Buffer.from(g.key);
      const rest = Buffer.from(out.buffer, out.byteOffset + out.length, out.buffer.byteLength - out.byteOffset - out.length);
      assert.ok(rest.every((x) => x === 0), "tail is wiped");
      assert.equal(Buffer.from(out.buffer).indexOf(key), -1);
    });

    test("successive requests into one OutputBuffer: the published bytes in its memory, tail wiped, nothing after wipe()", () => {
      const { g, ref } = seeded("into");
      const into = new OutputBuffer();
      let state = ref;
      let memory: ArrayBufferLike | undefined;
      for (const n of [1000, 65536, 5, 65536]) {
        const out = g.pseudoRandomData(n, into);
        const want = refPseudoRandom(state, n);
        assert.ok(Buffer.from(out).equals(want.out), `${n} bytes`);
        state = want.state;
        // Grown once, for the 64 KiB requests, then reused.
        if (n === 65536) memory ??= out.buffer;
        if (memory) assert.equal(out.buffer, memory);
        const tail = Buffer.from(out.buffer, out.byteOffset + n, Math.ceil(n / 16) * 16 - n);
        assert.ok(tail.every((x) => x === 0), "the last block's spare bytes are wiped");
      }
      assert.deepEqual(stateOf(g), state);
      into.wipe();
      assert.ok(new Uint8Array(memory!).every((x) => x === 0));
    });

    test("the key getter is a copy", () => {
      const { g } = seeded();
      const k = g.key;
      k.fill(7);
      assert.notDeepEqual(g.key, k);
    });
  });
}

describe("CounterBlocks", () => {
  const manual = (c: bigint, k: number) => Buffer.concat(Array.from({ length: k }, (_, i) => counterBlockLE((c + BigInt(i)) & ((1n << 128n) - 1n))));

  test("carries across the 32-bit, 64-bit and 128-bit boundaries, and recovers the fast path", () => {
    const cb = new CounterBlocks();
    const cases: [bigint, number][] = [
      [1n, 5],
      [2n ** 32n - 3n, 6],
      [2n ** 32n + 7n, 4],
      [5n, 3],
      [2n ** 64n - 2n, 4],
      [2n ** 64n + 1n, 40],
      [2n ** 128n - 2n, 4],
      [2n ** 96n + 3n, 70000],
      [2n ** 96n + 9n, 3],
    ];
    for (const [c, k] of cases) assert.ok(cb.blocks(c, k).equals(manual(c, k)), `counter ${c} x ${k}`);
  });
});
