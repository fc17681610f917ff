// Who may seed Fortuna and read its output, over a real mutual-TLS port as
// main.ts serves it with TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE;
// each seeding identity, and each chip it seeds from, is its own accumulator
// source; pool 0's fill is
// shown only to callers that may seed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient, type GrpcClient } from "../../runtime/src/index.js";
import { RESEED_INTERVAL_MS } from "../src/accumulator.js";
import { shad256 } from "./reference.js";
import { makeCertSet, type CertSet, type ClientCreds } from "../../runtime/test/tls-helpers.js";
import { startHarness, type Harness } from "./harness.js";

type Client = { ca: Buffer; cert?: Buffer; key?: Buffer };
const event = (source: number, data: Uint8Array) => Buffer.concat([Buffer.of(source, data.length), data]);
const coded = (code: Code) => (e: unknown) => e instanceof ConnectError && e.code === code;

/** The gateway's first seed: 5 TRNG samples of 32 bytes (gateway/src/engine/seeder.ts). */
const gatewaySeeds = () => Array.from({ length: 5 }, (_, i) => Buffer.alloc(32, 0xa0 + i));

/** The three client stacks of the tests: grpc-js (the gateway's), Connect over HTTP/2, REST over HTTPS. */
function clientsOf(h: Harness, who: Client) {
  const grpcClients: GrpcClient<typeof FortunaService>[] = [];
  const grpc = () => {
    const c = createGrpcClient(FortunaService, h.address, { tls: who });
    grpcClients.push(c);
    return c;
  };
  const connect = createClient(FortunaService, createConnectTransport({ baseUrl: h.base, httpVersion: "2", nodeOptions: { ...who } }));
  const rest = (method: "GET" | "POST", path: string, body?: unknown) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(h.base + path, { method, ca: who.ca, cert: who.cert, key: who.key, agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  return { grpc, connect, rest, close: () => grpcClients.forEach((c) => c.close()) };
}

const firstChunk = async (stream: AsyncIterable<{ data: Uint8Array }>) => {
  for await (const m of stream) return m.data;
  throw new Error("the stream ended without a chunk");
};

describe("mutual-TLS Fortuna: only verified LoKey services seed and read", () => {
  let pki: CertSet;
  let otherPki: CertSet;
  let h: Harness;
  let gateway: ClientCreds;
  const open: { close(): void }[] = [];
  const as = (who: Client) => {
    const c = clientsOf(h, who);
    open.push(c);
    return c;
  };

  before(async () => {
    pki = makeCertSet("ca");
    otherPki = makeCertSet("other-ca");
    gateway = pki.creds("gateway");
    h = await startHarness({ pki });
  });
  after(async () => {
    for (const c of open) c.close();
    await h?.close();
    pki?.remove();
    otherPki?.remove();
  });

  const refusedEverywhere = async (who: Client, code: Code, http: number) => {
    const c = as(who);
    const grpc = c.grpc();
    const seed = { seeds: gatewaySeeds() };
    for (const client of [grpc, c.connect]) {
      await assert.rejects(client.seed(seed), coded(code));
      await assert.rejects(client.amplify({ seed: Buffer.alloc(32, 1) }), coded(code));
      await assert.rejects(client.generate({ size: 16 }), coded(code));
      await assert.rejects(firstChunk(client.streamRandom({ chunkSize: 16 })), coded(code));
    }
    for (const [method, path, body] of [["POST", "/seed", { seeds: gatewaySeeds().map((s) => s.toString("hex")) }], ["POST", "/amplify", { seed: "00" }], ["GET", "/generate?size=16"]] as const) {
      const res = await c.rest(method, path, body);
      assert.equal(res.status, http, `${method} ${path}`);
      assert.deepEqual(Object.keys(res.body), ["error"]);
    }
  };

  test("without a client certificate: UNAUTHENTICATED / 401 over gRPC, Connect and REST, nothing seeded", async () => {
    await refusedEverywhere({ ca: pki.ca }, Code.Unauthenticated, 401);
    assert.equal(h.fortuna.accumulator.stats().seeded, false);
    assert.equal(h.fortuna.accumulator.stats().pool0Bytes, 0);
  });

  test("with a certificate another CA signed: PERMISSION_DENIED / 403, nothing seeded", async () => {
    const stranger = otherPki.creds("gateway");
    await refusedEverywhere({ ca: pki.ca, cert: stranger.cert, key: stranger.key }, Code.PermissionDenied, 403);
    assert.equal(h.fortuna.accumulator.stats().seeded, false);
  });

  test("with the gateway's certificate: seeds (5 samples of 32 bytes) and reads over gRPC, Connect and REST", async () => {
    const c = as(gateway);
    const grpc = c.grpc();
    const res = await grpc.seed({ seeds: gatewaySeeds() });
    assert.deepEqual([res.status, res.reseeded], ["reseeded", true]);
    assert.equal((await grpc.generate({ size: 16 })).data.length, 16);
    assert.equal((await firstChunk(grpc.streamRandom({ chunkSize: 16 }))).length, 16);
    assert.equal((await c.connect.generate({ size: 8 })).data.length, 8);
    assert.equal((await firstChunk(c.connect.streamRandom({ chunkSize: 8 }))).length, 8);
    const rest = await c.rest("GET", "/generate?size=4");
    assert.equal(rest.status, 200);
    assert.match(String(rest.body.data), /^[0-9a-f]{8}$/);
    assert.equal((await c.rest("POST", "/amplify", { seed: "00112233", size: 10 })).status, 200);
  });

  test("GetInfo shows pool 0's fill only to callers that may seed", async () => {
    const filled = h.fortuna.accumulator.stats().pool0Bytes;
    assert.ok(filled > 0);
    const gw = as(gateway);
    assert.equal((await gw.grpc().getInfo({})).pool0Bytes, BigInt(filled));
    assert.equal((await gw.rest("GET", "/info")).body.pool0_bytes, filled);
    const stranger = otherPki.creds("gateway");
    for (const who of [{ ca: pki.ca }, { ca: pki.ca, cert: stranger.cert, key: stranger.key }]) {
      const c = as(who);
      const info = await c.grpc().getInfo({});
      assert.equal(info.seeded, true, "the rest of GetInfo stays public");
      assert.equal(info.pool0Bytes, 0n);
      assert.equal((await c.connect.getInfo({})).pool0Bytes, 0n);
      const rest = await c.rest("GET", "/info");
      assert.equal(rest.status, 200);
      assert.equal(rest.body.pool0_bytes, 0);
      assert.equal(rest.body.pool_count, 32);
    }
  });
});

describe("each seeding identity is its own accumulator source", () => {
  let pki: CertSet;
  let h: Harness;
  const open: { close(): void }[] = [];
  // A new connection for every call: identity, not connection, picks the source.
  const seedAs = (who: ClientCreds, seeds: Buffer[]) => {
    const c = clientsOf(h, who);
    open.push(c);
    return c.grpc().seed({ seeds });
  };
  const pool0 = async () => {
    const c = clientsOf(h, pki.creds("gateway"));
    open.push(c);
    return (await c.grpc().getInfo({})).pool0Bytes;
  };

  before(async () => {
    pki = makeCertSet("sources");
    h = await startHarness({ pki, maxSeeders: 2 });
  });
  after(async () => {
    for (const c of open) c.close();
    await h?.close();
    pki?.remove();
  });

  test("sources are given out by certificate identity, each with its own round robin over the pools (9.5.6)", async () => {
    const gateway = pki.creds("gateway");
    const controller = pki.creds("controller");
    await seedAs(gateway, gatewaySeeds());
    assert.equal(await pool0(), 0n, "the first seed goes into the key, not the pools");
    // Every source starts at P0: the gateway's first event, then the controller's, both land there.
    const g1 = Buffer.alloc(32, 0x61);
    const c1 = Buffer.alloc(32, 0x71);
    await seedAs(gateway, [g1]);
    assert.equal(await pool0(), 34n);
    await seedAs(controller, [c1]);
    assert.equal(await pool0(), 68n, "the controller has a source of its own (a shared one would have moved on to P1)");
    // The gateway again, on a new connection: its own source's next pool is P1.
    await seedAs(gateway, [Buffer.alloc(32, 0x62)]);
    assert.equal(await pool0(), 68n);
    // The next reseed takes P0: the events carry source numbers 0 and 1.
    h.clock.advance(RESEED_INTERVAL_MS);
    const key = Buffer.from(h.fortuna.accumulator.generator.key);
    const res = await seedAs(controller, [Buffer.alloc(32, 0x72)]);
    assert.equal(res.status, "reseeded");
    assert.deepEqual(Buffer.from(h.fortuna.accumulator.generator.key), shad256(key, shad256(Buffer.concat([event(0, g1), event(1, c1)]))));
  });

  test("past the bound on seeding identities a new one gets RESOURCE_EXHAUSTED; known ones go on", async () => {
    const refused = (e: unknown) => coded(Code.ResourceExhausted)(e) && /already has 2 seeding sources/.test((e as ConnectError).rawMessage);
    await assert.rejects(seedAs(pki.creds("fortuna"), [Buffer.alloc(32, 1)]), refused);
    assert.equal((await seedAs(pki.creds("gateway"), [Buffer.alloc(32, 2)])).count, 1);
    assert.equal((await seedAs(pki.creds("controller"), [Buffer.alloc(32, 3)])).count, 1);
  });
});

describe("each chip a caller seeds from is a source of its own (SeedRequest.chip)", () => {
  let pki: CertSet;
  let h: Harness;
  let c: ReturnType<typeof clientsOf>;
  before(async () => {
    pki = makeCertSet("chips");
    h = await startHarness({ pki, maxSeeders: 3 });
    c = clientsOf(h, pki.creds("gateway"));
    await c.grpc().seed({ seeds: gatewaySeeds() });
  });
  after(async () => {
    c?.close();
    await h?.close();
    pki?.remove();
  });
  const pool0 = async () => (await c.grpc().getInfo({})).pool0Bytes;

  test("one caller, two chips and no chip: three round robins, each starting at P0; a fourth pair is refused", async () => {
    const grpc = c.grpc();
    assert.equal(await pool0(), 0n);
    await grpc.seed({ seeds: [Buffer.alloc(32, 1)], chip: "0123aaaaaaaaaaaaee" });
    await grpc.seed({ seeds: [Buffer.alloc(32, 2)], chip: "0123bbbbbbbbbbbbee" });
    // REST carries the chip too.
    assert.equal((await c.rest("POST", "/seed", { seeds: ["03".repeat(32)] })).status, 200);
    // Each landed in P0: a shared source would have moved on to P1 and P2.
    assert.equal(await pool0(), 3n * 34n);
    // The first chip again: its own source's next pool is P1.
    await grpc.seed({ seeds: [Buffer.alloc(32, 4)], chip: "0123aaaaaaaaaaaaee" });
    assert.equal(await pool0(), 3n * 34n);
    const refused = (e: unknown) => coded(Code.ResourceExhausted)(e) && /already has 3 seeding sources \(one per caller and chip\)/.test((e as ConnectError).rawMessage);
    await assert.rejects(grpc.seed({ seeds: [Buffer.alloc(32, 5)], chip: "0123ccccccccccccee" }), refused);
    assert.equal((await grpc.seed({ seeds: [Buffer.alloc(32, 6)], chip: "0123bbbbbbbbbbbbee" })).count, 1);
  });

  test("a chip name longer than 64 characters is INVALID_ARGUMENT", async () => {
    await assert.rejects(c.grpc().seed({ seeds: [Buffer.alloc(32, 7)], chip: "x".repeat(65) }), coded(Code.InvalidArgument));
  });
});

describe("TLS_ALLOWED_CLIENTS: a certificate of the CA that is not listed", () => {
  let pki: CertSet;
  let h: Harness;
  let c: ReturnType<typeof clientsOf>;
  before(async () => {
    pki = makeCertSet("allowed");
    h = await startHarness({ pki, allowedClients: ["gateway"] });
    const gw = clientsOf(h, pki.creds("gateway"));
    await gw.grpc().seed({ seeds: gatewaySeeds() });
    await gw.grpc().amplify({ seed: Buffer.alloc(8, 1) });
    gw.close();
    c = clientsOf(h, pki.creds("controller"));
  });
  after(async () => {
    c?.close();
    await h?.close();
    pki?.remove();
  });

  test("may not seed, and does not see pool 0's fill", async () => {
    await assert.rejects(c.grpc().seed({ seeds: [Buffer.alloc(32)] }), coded(Code.PermissionDenied));
    assert.ok(h.fortuna.accumulator.stats().pool0Bytes > 0);
    assert.equal((await c.grpc().getInfo({})).pool0Bytes, 0n);
    assert.equal((await c.rest("GET", "/info")).body.pool0_bytes, 0);
  });
});

describe("on a port without a client CA: loopback callers only", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.grpc.seed({ seeds: gatewaySeeds() });
    await h.grpc.seed({ seeds: [Buffer.alloc(32, 1)] });
  });
  after(() => h.close());

  // A loopback socket that forwards for someone else is not a loopback caller (runtime/src/peer.ts).
  const forwarded = { "X-Forwarded-For": "203.0.113.7" };

  test("a forwarded caller does not see pool 0's fill; a loopback caller does", async () => {
    assert.equal(((await (await fetch(h.base + "/info")).json()) as Record<string, unknown>).pool0_bytes, 34);
    const res = await fetch(h.base + "/info", { headers: forwarded });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Record<string, unknown>).pool0_bytes, 0);
  });

  test("a forwarded caller may not seed", async () => {
    const res = await fetch(h.base + "/seed", { method: "POST", headers: forwarded, body: JSON.stringify({ seeds: ["00".repeat(32)] }) });
    assert.equal(res.status, 403);
    assert.equal(h.fortuna.accumulator.stats().pool0Bytes, 34);
  });
});
