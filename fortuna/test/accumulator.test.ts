import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Accumulator, MIN_POOL_SIZE, RESEED_INTERVAL_MS } from "../src/accumulator.js";
import { NotSeededError } from "../src/generator.js";
import { MAX_EVENT_BYTES, Pools } from "../src/pools.js";
import { fakeClock } from "./harness.js";
import { refPseudoRandom, sha256, shad256, type RefState } from "./reference.js";

const stateOf = (a: Accumulator): RefState => ({ key: Buffer.from(a.generator.key), counter: a.generator.counter });
const event = (source: number, data: Uint8Array) => Buffer.concat([Buffer.of(source, data.length), data]);

function seededAccumulator() {
  const clock = fakeClock();
  const acc = new Accumulator(clock);
  acc.seedDirect(Buffer.from("initial seed"));
  return { clock, acc };
}

describe("Accumulator", () => {
  test("refuses output until seeded, even when asked through the accumulator", () => {
    const acc = new Accumulator(fakeClock());
    assert.throws(() => acc.randomData(16), NotSeededError);
    assert.equal(acc.stats().seeded, false);
    assert.equal(acc.stats().requestsServed, 0n);
  });

  test("a direct seed makes it usable at once; the pools are left alone", () => {
    const { acc } = seededAccumulator();
    assert.equal(acc.randomData(16).length, 16);
    const s = acc.stats();
    assert.equal(s.reseedCount, 1n);
    assert.equal(s.poolReseedCount, 0n);
    assert.equal(s.bytesGenerated, 16n);
    assert.equal(s.requestsServed, 1n);
  });

  test("reseed waits for 64 bytes in P0, counting source and length bytes", () => {
    const { clock, acc } = seededAccumulator();
    clock.advance(RESEED_INTERVAL_MS);
    // Each source starts at P0: two events of 29 bytes put 2 x 31 = 62 bytes there.
    acc.addRandomEvent(10, Buffer.alloc(29, 1));
    acc.addRandomEvent(11, Buffer.alloc(29, 2));
    assert.equal(acc.stats().pool0Bytes, 62);
    assert.equal(acc.maybeReseed(), false);
    acc.addRandomEvent(12, Buffer.alloc(1, 3));
    assert.equal(acc.stats().pool0Bytes, 65);
    assert.ok(acc.stats().pool0Bytes >= MIN_POOL_SIZE);
    const before = stateOf(acc);
    assert.equal(acc.maybeReseed(), true);
    // Reseed 1 uses P0 only: K = SHAd256(K || SHAd256(P0 content)).
    const p0 = Buffer.concat([event(10, Buffer.alloc(29, 1)), event(11, Buffer.alloc(29, 2)), event(12, Buffer.alloc(1, 3))]);
    assert.deepEqual(Buffer.from(acc.generator.key), shad256(before.key, shad256(p0)));
    assert.equal(acc.generator.counter, before.counter + 1n);
    assert.equal(acc.stats().pool0Bytes, 0);
  });

  test("at most one reseed per 100 ms (the direct seed counts as a reseed)", () => {
    const { clock, acc } = seededAccumulator();
    const fill = () => {
      for (let s = 0; s < 3; s++) acc.addRandomEvent(100 + s + Number(acc.stats().reseedCount) * 3, Buffer.alloc(32, s));
    };
    fill();
    clock.advance(RESEED_INTERVAL_MS - 1);
    assert.equal(acc.maybeReseed(), false);
    clock.advance(1);
    assert.equal(acc.maybeReseed(), true);
    fill();
    clock.advance(RESEED_INTERVAL_MS - 1);
    assert.equal(acc.maybeReseed(), false);
    clock.advance(1);
    assert.equal(acc.maybeReseed(), true);
    assert.equal(acc.stats().poolReseedCount, 2n);
  });

  test("pool i takes part in reseed r exactly when 2^i divides r; used pools are emptied", () => {
    const { clock, acc } = seededAccumulator();
    // An independent model of the 32 pools' contents.
    const model: Buffer[][] = Array.from({ length: 32 }, () => []);
    const source = 7;
    let j = 0;
    for (let r = 1; r <= 40; r++) {
      // Two rounds over the pools: P0 gets 2 x 34 = 68 bytes.
      for (let e = 0; e < 64; e++, j++) {
        const data = Buffer.alloc(32, j & 0xff);
        data.writeUInt32LE(j, 0);
        acc.addRandomEvent(source, data);
        model[j % 32].push(event(source, data));
      }
      clock.advance(RESEED_INTERVAL_MS);
      const before = stateOf(acc);
      assert.equal(acc.maybeReseed(), true, `reseed ${r}`);
      const used = model.map((_, i) => i).filter((i) => r % 2 ** i === 0);
      const seed = Buffer.concat(used.map((i) => shad256(Buffer.concat(model[i]))));
      for (const i of used) model[i] = [];
      assert.deepEqual(Buffer.from(acc.generator.key), shad256(before.key, seed), `reseed ${r} uses pools ${used}`);
    }
    assert.equal(acc.stats().poolReseedCount, 40n);
  });

  test("each source spreads its events over the pools in turn, independently of other sources", () => {
    const { clock, acc } = seededAccumulator();
    // Source 1 writes 33 events: P0 gets its 1st and 33rd. Source 2's first event also lands in P0.
    const p0: Buffer[] = [];
    for (let e = 0; e < 33; e++) {
      const data = Buffer.alloc(20, e);
      acc.addRandomEvent(1, data);
      if (e % 32 === 0) p0.push(event(1, data));
    }
    acc.addRandomEvent(2, Buffer.alloc(20, 0xee));
    p0.push(event(2, Buffer.alloc(20, 0xee)));
    assert.equal(acc.stats().pool0Bytes, 3 * 22);
    clock.advance(RESEED_INTERVAL_MS);
    const before = stateOf(acc);
    assert.equal(acc.maybeReseed(), true);
    assert.deepEqual(Buffer.from(acc.generator.key), shad256(before.key, shad256(Buffer.concat(p0))));
  });

  test("a pool reseed wipes the seed it handed to the generator once the key is made", () => {
    const { clock, acc } = seededAccumulator();
    const handed: Uint8Array[] = [];
    const reseed = acc.generator.reseed.bind(acc.generator);
    acc.generator.reseed = (seed) => {
      handed.push(seed);
      reseed(seed);
    };
    for (let e = 0; e < 64; e++) acc.addRandomEvent(1, Buffer.alloc(32, e + 1));
    clock.advance(RESEED_INTERVAL_MS);
    const before = stateOf(acc);
    assert.equal(acc.maybeReseed(), true);
    assert.equal(handed.length, 1);
    assert.equal(handed[0].length, 32, "SHAd256 of P0 alone in reseed 1");
    assert.ok(handed[0].every((b) => b === 0), "the seed buffer is wiped");
    assert.notDeepEqual(Buffer.from(acc.generator.key), before.key);
  });

  test("addSeed splits long seeds into events of at most 32 bytes", () => {
    const { acc } = seededAccumulator();
    // 70 bytes -> events of 32, 32, 6 into P0, P1, P2 of source 3.
    acc.addSeed(3, Buffer.alloc(70, 9));
    assert.equal(acc.stats().pool0Bytes, 34);
    acc.addSeed(4, Buffer.alloc(1, 9));
    assert.equal(acc.stats().pool0Bytes, 34 + 3);
  });

  test("the reseed decision is made on the request, before generating", () => {
    const { clock, acc } = seededAccumulator();
    acc.addSeed(1, Buffer.alloc(32, 1));
    acc.addSeed(2, Buffer.alloc(32, 2));
    clock.advance(RESEED_INTERVAL_MS);
    const before = stateOf(acc);
    const p0 = Buffer.concat([event(1, Buffer.alloc(32, 1)), event(2, Buffer.alloc(32, 2))]);
    const out = acc.randomData(48);
    const reseeded: RefState = { key: shad256(before.key, shad256(p0)), counter: before.counter + 1n };
    assert.deepEqual(Buffer.from(out), refPseudoRandom(reseeded, 48).out);
    assert.equal(acc.stats().reseedCount, 2n);
  });

  test("outputs above 2^20 bytes are successive generator requests", () => {
    const { acc } = seededAccumulator();
    const before = stateOf(acc);
    const n = (1 << 20) + 5;
    const out = acc.randomData(n);
    const first = refPseudoRandom(before, 1 << 20);
    const second = refPseudoRandom(first.state, 5);
    assert.equal(out.length, n);
    assert.ok(Buffer.from(out).equals(Buffer.concat([first.out, second.out])));
    assert.deepEqual(stateOf(acc), second.state);
    assert.equal(acc.stats().requestsServed, 1n);
    assert.equal(acc.stats().bytesGenerated, BigInt(n));
  });

  test("bad event input is refused", () => {
    const { acc } = seededAccumulator();
    assert.throws(() => acc.addRandomEvent(256, Buffer.alloc(1)), RangeError);
    assert.throws(() => acc.addRandomEvent(-1, Buffer.alloc(1)), RangeError);
    assert.throws(() => acc.addRandomEvent(0, Buffer.alloc(0)), RangeError);
    assert.throws(() => acc.addRandomEvent(0, Buffer.alloc(33)), RangeError);
    assert.equal(acc.stats().pool0Bytes, 0);
  });
});

describe("Pools: events of 1..32 bytes (9.5.6)", () => {
  test("an event of 1 or 32 bytes is taken; 0 or 33 bytes is refused and leaves the pool as it was", () => {
    assert.equal(MAX_EVENT_BYTES, 32);
    const pools = new Pools();
    pools.add(0, 5, Buffer.alloc(1, 1));
    pools.add(0, 5, Buffer.alloc(32, 2));
    assert.equal(pools.pool0Bytes, 3 + 34);
    assert.throws(() => pools.add(0, 5, Buffer.alloc(0)), /event data must be 1..32 bytes, got 0/);
    assert.throws(() => pools.add(0, 5, Buffer.alloc(33)), /event data must be 1..32 bytes, got 33/);
    assert.equal(pools.pool0Bytes, 3 + 34);
    // The pool's content is exactly the two events taken.
    assert.deepEqual(pools.drain(0), sha256(event(5, Buffer.alloc(1, 1)), event(5, Buffer.alloc(32, 2))));
  });

  test("a refused event does not move its source on to the next pool", () => {
    const { acc } = seededAccumulator();
    assert.throws(() => acc.addRandomEvent(9, Buffer.alloc(33)), RangeError);
    acc.addRandomEvent(9, Buffer.alloc(32));
    assert.equal(acc.stats().pool0Bytes, 34, "the source's first event still went to P0");
  });

  test("seed material longer than 32 bytes becomes several events, none longer than 32", () => {
    const { acc } = seededAccumulator();
    // 1024 bytes (the largest seed) -> 32 events of 32 bytes, one in each pool: P0 gets one.
    acc.addSeed(4, Buffer.alloc(1024, 7));
    assert.equal(acc.stats().pool0Bytes, 34);
    acc.addSeed(4, Buffer.alloc(33, 7));
    assert.equal(acc.stats().pool0Bytes, 68, "the 33rd event wrapped round to P0");
  });
});
