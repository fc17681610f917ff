// The first-seed takeover: while Fortuna was unseeded, any Seed became its
// whole state, so a client that seeded first could predict every byte it
// later served. These tests play that attacker against a real server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { Accumulator } from "../src/accumulator.js";
import { FIRST_SEED_MIN_BYTES } from "../src/first-seed.js";
import { refPseudoRandom, refReseed, shad256 } from "./reference.js";
import { startHarness, type Harness } from "./harness.js";

const UNSEEDED = { key: Buffer.alloc(32), counter: 0n };
const tooShort = (got: number) => (e: unknown) =>
  e instanceof ConnectError && e.code === Code.InvalidArgument && e.rawMessage === `the first seed must carry at least 64 bytes of seed material in all, got ${got}`;

describe("the first seed", () => {
  let h: Harness;
  before(async () => (h = await startHarness()));
  after(() => h.close());

  test("under 64 bytes in all is refused with INVALID_ARGUMENT / 400, and leaves Fortuna unseeded", async () => {
    assert.equal(FIRST_SEED_MIN_BYTES, 64);
    await assert.rejects(h.grpc.seed({ seeds: [Buffer.of(0)] }), tooShort(1));
    await assert.rejects(h.grpc.seed({ seeds: [Buffer.alloc(32), Buffer.alloc(31)] }), tooShort(63));
    const rest = await fetch(h.base + "/seed", { method: "POST", body: JSON.stringify({ seeds: ["00"] }) });
    assert.equal(rest.status, 400);
    assert.deepEqual(await rest.json(), { error: "the first seed must carry at least 64 bytes of seed material in all, got 1" });
    assert.equal(h.fortuna.accumulator.generator.counter, 0n);
    assert.equal(h.fortuna.accumulator.stats().pool0Bytes, 0);
    assert.equal((await fetch(h.base + "/generate?size=8")).status, 503);
  });

  test("of exactly 64 bytes, over several seeds, serves at once", async () => {
    const res = await h.grpc.seed({ seeds: [Buffer.alloc(32, 1), Buffer.alloc(32, 2)] });
    assert.deepEqual([res.status, res.reseeded], ["reseeded", true]);
    assert.equal((await h.grpc.generate({ size: 16 })).data.length, 16);
    // Once seeded, short seeds are ordinary pool events.
    assert.equal((await h.grpc.seed({ seeds: [Buffer.of(0)] })).status, "pooled");
  });
});

describe("first-seed takeover", () => {
  test("an attacker who seeds first with zeros cannot predict the output it then reads", async () => {
    const h = await startHarness();
    try {
      const seed = Buffer.alloc(64);
      assert.equal((await h.grpc.seed({ seeds: [seed] })).status, "reseeded");
      const out = Buffer.from((await h.grpc.generate({ size: 64 })).data);
      // The attacker's prediction: the published generator reseeded from the zero key with its seed (9.4.2) ...
      assert.notDeepEqual(out, refPseudoRandom(refReseed(UNSEEDED, seed), 64).out);
      // ... or keyed with SHAd256 of the seed alone.
      assert.notDeepEqual(out, refPseudoRandom({ key: shad256(seed), counter: 1n }, 64).out);
      // The seed is not in the key on its own either way.
      const key = Buffer.from(h.fortuna.accumulator.generator.key);
      assert.notDeepEqual(key, shad256(Buffer.alloc(32), seed));
      assert.notDeepEqual(key, shad256(seed));
    } finally {
      await h.close();
    }
  });

  test("two services seeded with the same seed serve different output", async () => {
    const [a, b] = await Promise.all([startHarness(), startHarness()]);
    try {
      const seeds = Array.from({ length: 5 }, (_, i) => Buffer.alloc(32, i));
      await Promise.all([a.grpc.seed({ seeds }), b.grpc.seed({ seeds })]);
      const [x, y] = await Promise.all([a.grpc.generate({ size: 64 }), b.grpc.generate({ size: 64 })]);
      assert.notDeepEqual(Buffer.from(x.data), Buffer.from(y.data));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("an hour of attacker-controlled reseeds: 0 of 120 outputs predicted without the local secret, 120 with it", async () => {
    // The local secret is handed to the test so that a model holding it can
    // show it is the only thing the attacker lacks.
    const local = Buffer.alloc(32, 0xc3);
    const h = await startHarness({ entropy: () => Buffer.from(local) });
    try {
      const seed = Buffer.alloc(64);
      await h.grpc.seed({ seeds: [seed] });
      // Models of the service, fed everything the attacker sends, on the same clock:
      // the attacker's with the first key the old code made, and one that knows the local secret.
      const attacker = new Accumulator(h.clock);
      attacker.seedDirect(seed);
      const insider = new Accumulator(h.clock);
      insider.seedDirect(Buffer.concat([local, seed]));
      let predicted = 0;
      let explained = 0;
      for (let round = 0; round < 120; round++) {
        h.clock.advance(30_000);
        // 64 events: two in every pool, so P0 holds 68 bytes and every round reseeds.
        const seeds = Array.from({ length: 64 }, (_, i) => Buffer.alloc(32, (round * 64 + i) & 0xff));
        assert.equal((await h.grpc.seed({ seeds })).status, "reseeded");
        for (const model of [attacker, insider]) {
          // The attacker is this Fortuna's only seeder, so its events are source 0.
          for (const s of seeds) model.addSeed(0, s);
          model.maybeReseed();
        }
        const out = Buffer.from((await h.grpc.generate({ size: 32 })).data);
        if (out.equals(attacker.randomData(32))) predicted++;
        if (out.equals(insider.randomData(32))) explained++;
      }
      assert.equal(explained, 120);
      assert.equal(predicted, 0);
    } finally {
      await h.close();
    }
  });
});
