import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { RESEED_INTERVAL_MS } from "../src/accumulator.js";
import { refPseudoRandom, shad256, type RefState } from "./reference.js";
import { atSecond, startHarness, type Harness } from "./harness.js";

const notSeeded = (e: unknown) => e instanceof ConnectError && e.code === Code.FailedPrecondition && e.rawMessage === "Fortuna is not seeded yet";
const stateOf = (h: Harness): RefState => ({ key: Buffer.from(h.fortuna.accumulator.generator.key), counter: h.fortuna.accumulator.generator.counter });
const seedHex = (i: number) => Buffer.alloc(32, i).toString("hex");

describe("unseeded Fortuna", () => {
  let h: Harness;
  before(async () => (h = await startHarness()));
  after(() => h.close());

  test("refuses every output with FAILED_PRECONDITION over gRPC, touching nothing", async () => {
    await assert.rejects(h.grpc.generate({ size: 16 }), notSeeded);
    await assert.rejects(h.grpc.amplify({ seed: new Uint8Array(32).fill(1) }), notSeeded);
    await assert.rejects(
      (async () => {
        for await (const _ of h.grpc.streamRandom({})) break;
      })(),
      notSeeded,
    );
    assert.equal(h.fortuna.accumulator.generator.counter, 0n);
    assert.equal(h.fortuna.accumulator.stats().pool0Bytes, 0, "Amplify's seed was not pooled");
  });

  test("answers 503 with the message over REST and reports unhealthy", async () => {
    const res = await fetch(h.base + "/generate?size=8");
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: "Fortuna is not seeded yet" });
    const health = await fetch(h.base + "/health");
    assert.equal(health.status, 503);
    const body = (await health.json()) as Record<string, unknown>;
    assert.equal(body.status, "unhealthy");
    assert.equal(body.seeded, false);
    assert.equal(body.last_reseed, "");
    assert.match(String(body.reason), /not seeded/);
    const hc = createClient(Health, createGrpcTransport({ baseUrl: h.base }));
    assert.equal((await hc.check({ service: "" })).status, Status.NOT_SERVING);
    assert.equal((await hc.check({ service: FortunaService.typeName })).status, Status.NOT_SERVING);
  });
});

describe("seeded Fortuna over gRPC, Connect and REST", () => {
  // The local secret is fixed here only so the first key can be checked; it
  // comes from the OS CSPRNG otherwise (first-seed.test.ts).
  const local = Buffer.alloc(32, 0x5e);
  let h: Harness;
  before(async () => (h = await startHarness({ amplificationFactor: 4, entropy: () => Buffer.from(local) })));
  after(() => h.close());

  test("the first Seed reseeds the generator at once from the local secret and the seeds' concatenation", async () => {
    const seeds = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(7, 3)];
    const res = await h.grpc.seed({ seeds });
    assert.equal(res.status, "reseeded");
    assert.equal(res.count, 3);
    assert.equal(res.reseeded, true);
    assert.deepEqual(Buffer.from(h.fortuna.accumulator.generator.key), shad256(Buffer.alloc(32), local, Buffer.concat(seeds)));
    assert.equal(h.fortuna.accumulator.generator.counter, 1n);
    const hc = createClient(Health, createGrpcTransport({ baseUrl: h.base }));
    assert.equal((await hc.check({ service: "" })).status, Status.SERVING);
  });

  test("Generate returns exactly the published generator's next bytes (grpc-js)", async () => {
    const before = stateOf(h);
    const res = await h.grpc.generate({ size: 1000 });
    assert.equal(res.size, 1000);
    const want = refPseudoRandom(before, 1000);
    assert.deepEqual(Buffer.from(res.data), want.out);
    assert.deepEqual(stateOf(h), want.state);
  });

  test("Generate over Connect (HTTP/1.1 JSON) and REST", async () => {
    const connect = createClient(FortunaService, createConnectTransport({ baseUrl: h.base, httpVersion: "1.1", useBinaryFormat: false }));
    const before = stateOf(h);
    const res = await connect.generate({ size: 33 });
    const first = refPseudoRandom(before, 33);
    assert.deepEqual(Buffer.from(res.data), first.out);
    const rest = await fetch(h.base + "/generate?size=5");
    assert.equal(rest.status, 200);
    assert.match(rest.headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(await rest.json(), { data: refPseudoRandom(first.state, 5).out.toString("hex"), size: 5 });
  });

  test("later seeds go into the pools; the answer says whether it reseeded", async () => {
    // 5 seeds of 32 bytes from one source: one event in P0 (34 bytes), below MinPoolSize.
    const res = await fetch(h.base + "/seed", { method: "POST", body: JSON.stringify({ seeds: [1, 2, 3, 4, 5].map(seedHex) }) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "pooled", count: 5 });
    assert.equal(h.fortuna.accumulator.stats().pool0Bytes, 34);
    // 27 more events reach the 33rd, which lands in P0 again: 68 bytes, but the clock has not moved.
    const more = Array.from({ length: 28 }, (_, i) => Buffer.alloc(32, 10 + i));
    const pooled = await h.grpc.seed({ seeds: more });
    assert.equal(pooled.status, "pooled");
    assert.equal(h.fortuna.accumulator.stats().pool0Bytes, 68);
    h.clock.advance(RESEED_INTERVAL_MS);
    const key = stateOf(h).key;
    const p0 = Buffer.concat([Buffer.of(0, 32), Buffer.alloc(32, 1), Buffer.of(0, 32), Buffer.alloc(32, 10 + 27)]);
    const reseeded = await h.grpc.seed({ seeds: [Buffer.alloc(1, 0xaa)] });
    assert.deepEqual([reseeded.status, reseeded.reseeded], ["reseeded", true]);
    assert.deepEqual(Buffer.from(h.fortuna.accumulator.generator.key), shad256(key, shad256(p0)));
  });

  test("Amplify pools the seed and returns seed length x AMPLIFICATION_FACTOR bytes, or the size asked", async () => {
    const p0Before = h.fortuna.accumulator.stats().pool0Bytes;
    const a = await h.grpc.amplify({ seed: new Uint8Array(10).fill(5) });
    assert.equal(a.size, 40);
    assert.equal(a.data.length, 40);
    assert.ok(h.fortuna.accumulator.stats().pool0Bytes >= p0Before, "the seed went into the pools");
    const rest = await fetch(h.base + "/amplify", { method: "POST", body: JSON.stringify({ seed: "00112233", size: 100 }) });
    assert.equal(rest.status, 200);
    const body = (await rest.json()) as { data: string; size: number };
    assert.deepEqual(Object.keys(body), ["data", "size"]);
    assert.equal(body.size, 100);
    assert.match(body.data, /^[0-9a-f]{200}$/);
  });

  test("GetInfo reports public statistics in the REST JSON shape", async () => {
    const s = h.fortuna.accumulator.stats();
    const res = await fetch(h.base + "/info");
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ["service", "seeded", "reseed_count", "last_reseed", "bytes_generated", "requests_served", "pool0_bytes", "pool_count"]);
    assert.equal(body.service, "fortuna");
    assert.equal(body.seeded, true);
    assert.equal(body.reseed_count, Number(s.reseedCount));
    assert.equal(body.last_reseed, atSecond(s.lastReseedAt!));
    assert.equal(body.bytes_generated, Number(s.bytesGenerated));
    assert.equal(body.pool_count, 32);
    const info = await h.grpc.getInfo({});
    assert.equal(info.requestsServed, s.requestsServed);
  });

  test("health turns unhealthy when the last reseed is older than the bound, and back after a reseed", async () => {
    let res = await fetch(h.base + "/health");
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys((await res.json()) as object), ["status", "timestamp", "seeded", "last_reseed", "reason"]);
    h.clock.advance(24 * 3600 * 1000 + 1);
    const g = await h.grpc.getHealth({});
    assert.equal(g.status, "unhealthy");
    assert.match(g.reason, /older than/);
    assert.equal(h.fortuna.health.isServing(""), false);
    res = await fetch(h.base + "/health");
    assert.equal(res.status, 503);
    // Output is still served: a stale seed is a health signal, not a refusal.
    assert.equal((await h.grpc.generate({ size: 1 })).size, 1);
    // Enough pooled events for P0, then a Seed reseeds and health recovers.
    await h.grpc.seed({ seeds: Array.from({ length: 64 }, (_, i) => Buffer.alloc(32, i)) });
    assert.equal((await h.grpc.getHealth({})).status, "healthy");
    assert.equal(h.fortuna.health.isServing(""), true);
  });
});

describe("bad input: a clear INVALID_ARGUMENT / 400, state untouched", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.grpc.seed({ seeds: [Buffer.alloc(64, 9)] });
  });
  after(() => h.close());

  const snapshot = () => {
    const s = h.fortuna.accumulator.stats();
    return { ...stateOf(h), bytes: s.bytesGenerated, pool0: s.pool0Bytes, reseeds: s.reseedCount };
  };
  const post = (path: string, body: string) => ({ method: "POST", body, path });
  const rest: [string, { method: string; path: string; body?: string }, RegExp][] = [
    ["size 0", { method: "GET", path: "/generate?size=0" }, /size: must be an integer from 1 to 1048576/],
    ["negative size", { method: "GET", path: "/generate?size=-3" }, /size: must be/],
    ["size above 2^20", { method: "GET", path: "/generate?size=1048577" }, /size: must be/],
    ["non-integer size", { method: "GET", path: "/generate?size=2.5" }, /size: must be an integer/],
    ["size not a number", { method: "GET", path: "/generate?size=lots" }, /size: must be an integer/],
    ["missing size", { method: "GET", path: "/generate" }, /size: is required/],
    ["no seeds", post("/seed", '{"seeds": []}'), /seeds: must have at least 1/],
    ["empty seed", post("/seed", '{"seeds": [""]}'), /seeds\[0\]: must be at least 1 bytes/],
    ["seed not hex", post("/seed", '{"seeds": ["xyz1"]}'), /seeds\[0\]: must be a hex string/],
    ["seed of odd hex length", post("/seed", '{"seeds": ["abc"]}'), /seeds\[0\]: must be a hex string/],
    ["seed too large", post("/seed", JSON.stringify({ seeds: ["00".repeat(1025)] })), /seeds\[0\]: must be at most 1024 bytes/],
    ["too many seeds", post("/seed", JSON.stringify({ seeds: Array(65).fill("00") })), /seeds: must have at most 64/],
    ["seeds not a list", post("/seed", '{"seeds": "00"}'), /Invalid request body|seeds/],
    ["amplify without a seed", post("/amplify", '{"size": 10}'), /seed: is required/],
    ["amplify with an empty seed", post("/amplify", '{"seed": ""}'), /seed: (is required|must be at least 1 bytes)/],
    ["amplify size 0", post("/amplify", '{"seed": "00", "size": 0}'), /size: must be/],
    ["amplify size above 2^20", post("/amplify", '{"seed": "00", "size": 1048577}'), /size: must be/],
    ["amplify seed not hex", post("/amplify", '{"seed": "0g"}'), /seed: must be a hex string/],
  ];
  for (const [what, req, pattern] of rest) {
    test(`REST ${what}`, async () => {
      const before = snapshot();
      const res = await fetch(h.base + req.path, { method: req.method, body: req.body });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: string };
      // The documented shape exactly; why a body was refused is in a header.
      assert.deepEqual(Object.keys(body), ["error"]);
      const detail = res.headers.get("x-error-detail") ?? "";
      assert.match(`${body.error} ${detail}`, pattern);
      assert.deepEqual(snapshot(), before);
    });
  }

  const invalid = (pattern: RegExp) => (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && pattern.test(e.rawMessage);
  const grpcCases: [string, () => Promise<unknown>, RegExp][] = [
    ["Generate size 0", () => h.grpc.generate({ size: 0 }), /size/],
    ["Generate negative size", () => h.grpc.generate({ size: -1 }), /size/],
    ["Generate size above 2^20", () => h.grpc.generate({ size: 1048577 }), /1048576/],
    ["Seed without seeds", () => h.grpc.seed({ seeds: [] }), /seeds/],
    ["Seed with an empty seed", () => h.grpc.seed({ seeds: [new Uint8Array(0)] }), /seeds\[0\]/],
    ["Seed too large", () => h.grpc.seed({ seeds: [new Uint8Array(1025)] }), /at most 1024/],
    ["Amplify without a seed", () => h.grpc.amplify({ size: 4 }), /seed/],
    ["StreamRandom chunk 0", async () => {
      for await (const _ of h.grpc.streamRandom({ chunkSize: 0 })) break;
    }, /chunk_size/],
    ["StreamRandom chunk above 2^20", async () => {
      for await (const _ of h.grpc.streamRandom({ chunkSize: 1048577 })) break;
    }, /chunk_size/],
  ];
  for (const [what, call, pattern] of grpcCases) {
    test(`gRPC ${what}`, async () => {
      const before = snapshot();
      await assert.rejects(call(), invalid(pattern));
      assert.deepEqual(snapshot(), before);
    });
  }
});
