// Per-client quotas, through the real server: 429 with Retry-After and the
// RateLimit fields over REST, RESOURCE_EXHAUSTED with a RetryInfo detail over
// gRPC and Connect, nothing consumed on refusal, buckets refilling (a clock
// the test moves), TRNG counted apart from Fortuna, API keys and addresses
// behind a trusted proxy as clients, and GetUsage (configuration:
// quota-config.test.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { Format, GatewayService, Source } from "../../../gen/lokey/v1/gateway_pb.js";
import { ApiKeys } from "../../src/quota/api-keys.js";
import type { Limits } from "../../src/quota/limits.js";
import { Quotas, type QuotaConfig } from "../../src/quota/quotas.js";
import { post, startGateway, text, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";
import { ALICE, BOB, KEYS } from "./quota-keys.js";

// Small figures so a few requests reach them. TRNG: 3 requests at once, one
// more every 12 s; 100 bytes at once, one more a second.
const LIMITS: Limits = {
  trng: { requests: { perMinute: 5, burst: 3 }, bytes: { perMinute: 60, burst: 100 } },
  fortuna: { requests: { perMinute: 60, burst: 10 }, bytes: { perMinute: 6000, burst: 1000 } },
};

interface Setup {
  g: Gateway<FakeEngine>;
  /** Moves the quotas' clock. */
  advance(ms: number): void;
}

/** A gateway whose quotas count loopback callers too (or only proxied ones), on a clock the test moves. */
async function withGateway(config: Partial<QuotaConfig>, fn: (s: Setup) => Promise<void>, trustedProxies?: BlockList): Promise<void> {
  let t = 1_000_000;
  const quotas = new Quotas({ limits: LIMITS, exemptLoopback: false, ...config }, () => t);
  const g = await startGateway(undefined, { quotas }, trustedProxies ? { security: { allowedClients: [], trustedProxies } } : {});
  try {
    await fn({ g, advance: (ms) => (t += ms) });
  } finally {
    await g.close();
  }
}

const json = { "Content-Type": "application/json" };
const trngBytes = (n: number, headers: Record<string, string> = {}) => ({ format: "uint8", limit: n, source: "trng", headers: { ...json, ...headers } });
const postData = (g: Gateway<FakeEngine>, r: ReturnType<typeof trngBytes>) => post(g.base, "/api/v1/data", { format: r.format, limit: r.limit, source: r.source }, r.headers);
const errorOf = (b: Uint8Array) => (JSON.parse(text(b)) as { error: string }).error;

function rpc(g: Gateway<FakeEngine>, kind: "grpc" | "connect") {
  const transport: Transport = kind === "grpc" ? createGrpcTransport({ baseUrl: g.base }) : createConnectTransport({ baseUrl: g.base, httpVersion: "1.1" });
  return createClient(GatewayService, transport);
}

describe("over REST", () => {
  test("429 with Retry-After and RateLimit fields, nothing consumed, then the bucket refills", async () => {
    await withGateway({}, async ({ g, advance }) => {
      g.engine.feed("trng", Buffer.alloc(200, 7));
      assert.equal((await postData(g, trngBytes(40))).status, 200);
      assert.equal((await postData(g, trngBytes(40))).status, 200);
      const served = g.engine.queues.trng.served;
      const refused = await postData(g, trngBytes(40));
      assert.equal(refused.status, 429);
      assert.match(errorOf(refused.bytes), /^address:127\.0\.0\.1 is over its trng quota of bytes \(40 asked, 20 left\); retry in 20 s$/);
      // 20 bytes short at one a second.
      assert.equal(refused.headers.get("retry-after"), "20");
      assert.equal(refused.headers.get("ratelimit-policy"), '"trng-requests";q=3;w=36, "trng-bytes";q=100;qu="content-bytes";w=100');
      assert.equal(refused.headers.get("ratelimit"), '"trng-requests";r=1;t=24, "trng-bytes";r=20;t=80');
      assert.equal(g.engine.available("trng"), 120);
      assert.equal(g.engine.queues.trng.served, served);
      advance(19_000);
      assert.equal((await postData(g, trngBytes(40))).status, 429);
      advance(1_000);
      assert.equal((await postData(g, trngBytes(40))).status, 200);
      assert.equal(g.engine.available("trng"), 80);
    });
  });

  test("the requests bucket: one token a request, refilled at its own rate", async () => {
    await withGateway({}, async ({ g, advance }) => {
      g.engine.feed("trng", Buffer.alloc(100));
      for (let i = 0; i < 3; i++) assert.equal((await postData(g, trngBytes(1))).status, 200);
      const refused = await postData(g, trngBytes(1));
      assert.equal(refused.status, 429);
      assert.match(errorOf(refused.bytes), /trng quota of requests; retry in 12 s/);
      assert.equal(refused.headers.get("retry-after"), "12");
      assert.equal(g.engine.available("trng"), 97);
      advance(12_000);
      assert.equal((await postData(g, trngBytes(1))).status, 200);
    });
  });

  test("TRNG is counted apart from Fortuna", async () => {
    await withGateway({}, async ({ g }) => {
      g.engine.endless.add("fortuna");
      g.engine.feed("trng", Buffer.alloc(200));
      assert.equal((await postData(g, trngBytes(100))).status, 200);
      assert.equal((await postData(g, trngBytes(1))).status, 429);
      const f = await post(g.base, "/api/v1/data", { format: "binary", limit: 900, source: "fortuna" });
      assert.equal(f.status, 200);
      assert.equal(f.bytes.length, 900);
      const over = await post(g.base, "/api/v1/bytes", { source: "fortuna", length: 200 });
      assert.equal(over.status, 429);
      assert.match(over.headers.get("ratelimit-policy")!, /^"fortuna-requests";q=10;w=10, "fortuna-bytes";q=1000;qu="content-bytes";w=10$/);
    });
  });

  test("a request larger than the burst is served from a full bucket, and paid off before the next", async () => {
    await withGateway({}, async ({ g, advance }) => {
      g.engine.feed("trng", Buffer.alloc(400));
      assert.equal((await postData(g, trngBytes(150))).status, 200);
      const next = await postData(g, trngBytes(1));
      assert.equal(next.status, 429);
      // 50 bytes of debt plus the one asked for, at one a second.
      assert.equal(next.headers.get("retry-after"), "51");
      advance(51_000);
      assert.equal((await postData(g, trngBytes(1))).status, 200);
    });
  });

  test("a refused request is not charged; an empty queue gives the bytes back", async () => {
    await withGateway({}, async ({ g }) => {
      // Empty queue: 404, and the bytes were not counted.
      for (let i = 0; i < 2; i++) assert.equal((await postData(g, trngBytes(100))).status, 404);
      g.engine.feed("trng", Buffer.alloc(100));
      assert.equal((await postData(g, trngBytes(100))).status, 200);
    });
  });

  test("uuids, bytes, integers and the stream are all counted; refusals consume nothing", async () => {
    await withGateway({}, async ({ g }) => {
      g.engine.feed("fortuna", Buffer.alloc(5000));
      assert.equal((await post(g.base, "/api/v1/uuids", { source: "fortuna", count: 60 })).status, 200); // 960 bytes
      const before = g.engine.available("fortuna");
      for (const [path, body] of [
        ["/api/v1/uuids", { source: "fortuna", count: 3 }],
        ["/api/v1/bytes", { source: "fortuna", length: 41 }],
        ["/api/v1/integers", { source: "fortuna", min: 0, max: 65535, count: 21 }],
        ["/api/v1/data", { format: "uint64", limit: 6, source: "fortuna" }],
      ] as const) {
        const r = await post(g.base, path, body);
        assert.equal(r.status, 429, path);
        assert.ok(r.headers.get("retry-after"), path);
      }
      assert.equal(g.engine.available("fortuna"), before);
      // The stream sends the 40 bytes left and is cut off (an error after data
      // can only end the chunked body unfinished); once empty, it is a 429.
      const s = await fetch(`${g.base}/api/v1/stream?source=fortuna&max_bytes=1000`);
      assert.equal(s.status, 200);
      let got = 0;
      await assert.rejects(async () => {
        for await (const chunk of s.body!) got += (chunk as Uint8Array).length;
      });
      assert.equal(got, 40);
      const empty = await fetch(`${g.base}/api/v1/stream?source=fortuna&max_bytes=1000`);
      assert.equal(empty.status, 429);
      assert.ok(empty.headers.get("ratelimit"));
      assert.equal(g.engine.available("fortuna"), before - 40);
    });
  });
});

describe("over RPC", () => {
  for (const kind of ["grpc", "connect"] as const) {
    test(`${kind}: RESOURCE_EXHAUSTED with a RetryInfo detail, nothing consumed`, async () => {
      await withGateway({}, async ({ g, advance }) => {
        g.engine.feed("trng", Buffer.alloc(200));
        const c = rpc(g, kind);
        assert.equal((await c.getData({ format: Format.UINT16, limit: 45, source: Source.TRNG })).data.length, 90);
        const err = await c.getBytes({ source: Source.TRNG, length: 11 }).then(
          () => assert.fail("expected RESOURCE_EXHAUSTED"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(err.code, Code.ResourceExhausted);
        const [info] = err.findDetails(RetryInfoSchema);
        // One byte short at one a second.
        assert.equal(info?.retryDelay?.seconds, 1n);
        assert.equal(info?.retryDelay?.nanos, 0);
        assert.equal(err.metadata.get("retry-after"), "1");
        assert.match(err.metadata.get("ratelimit") ?? "", /"trng-bytes";r=10;t=90/);
        assert.equal(g.engine.available("trng"), 110);
        advance(1000);
        assert.equal((await c.getBytes({ source: Source.TRNG, length: 11 })).data.length, 22);
      });
    });
  }

  test("a stream delivers what the quota allows, then ends with RESOURCE_EXHAUSTED", async () => {
    await withGateway({}, async ({ g }) => {
      g.engine.feed("fortuna", Buffer.alloc(5000));
      const got: number[] = [];
      const err = await (async () => {
        for await (const m of rpc(g, "grpc").streamData({ source: Source.FORTUNA, maxBytes: 5000n, chunkSize: 300 })) got.push(m.data.length);
      })().then(
        () => assert.fail("expected RESOURCE_EXHAUSTED"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.deepEqual(got, [300, 300, 300, 100]);
      assert.equal(err.code, Code.ResourceExhausted);
      assert.equal(err.findDetails(RetryInfoSchema)[0]?.retryDelay?.nanos, 10_000_000);
      assert.equal(g.engine.available("fortuna"), 4000);
    });
  });
});

describe("who a client is", () => {
  test("each API key has its own buckets and may have its own limits; an unknown key is 401", async () => {
    await withGateway({ keys: ApiKeys.parse(KEYS, LIMITS) }, async ({ g }) => {
      g.engine.feed("trng", Buffer.alloc(1000));
      const as = (key: string): Record<string, string> => ({ "X-API-Key": key });
      assert.equal((await postData(g, trngBytes(100, as(ALICE)))).status, 200);
      const refused = await postData(g, trngBytes(1, as(ALICE)));
      assert.equal(refused.status, 429);
      assert.match(errorOf(refused.bytes), /^key:alice is over/);
      // The same address without a key, and bob, still have their own.
      assert.equal((await postData(g, trngBytes(100))).status, 200);
      assert.equal((await postData(g, trngBytes(200, as(BOB)))).status, 200);
      assert.equal((await postData(g, trngBytes(1, as(BOB)))).status, 429);
      const unknown = await postData(g, trngBytes(1, as("mallory-key-0123456789")));
      assert.equal(unknown.status, 401);
      assert.equal(errorOf(unknown.bytes), "X-API-Key: unknown API key");
      const grpcErr = await rpc(g, "grpc")
        .getUsage({}, { headers: { "x-api-key": "nope" } })
        .then(() => assert.fail("expected UNAUTHENTICATED"), (e: unknown) => ConnectError.from(e));
      assert.equal(grpcErr.code, Code.Unauthenticated);
      assert.equal(g.engine.available("trng"), 600);
    });
  });

  test("behind a trusted proxy: the forwarded address is the client (IPv6 by /64), loopback stays exempt", async () => {
    const proxies = new BlockList();
    proxies.addAddress("127.0.0.1");
    await withGateway(
      { exemptLoopback: true },
      async ({ g }) => {
        g.engine.feed("trng", Buffer.alloc(1000));
        const from = (a: string) => ({ "X-Forwarded-For": a });
        assert.equal((await postData(g, trngBytes(100, from("203.0.113.7")))).status, 200);
        const refused = await postData(g, trngBytes(1, from("203.0.113.7")));
        assert.equal(refused.status, 429);
        assert.match(errorOf(refused.bytes), /^address:203\.0\.113\.7 is over/);
        assert.equal((await postData(g, trngBytes(100, from("203.0.113.8")))).status, 200);
        assert.equal((await postData(g, trngBytes(100, from("2001:db8:1:2::5")))).status, 200);
        const sameHost = await postData(g, trngBytes(1, from("2001:db8:1:2:ffff::9")));
        assert.equal(sameHost.status, 429);
        assert.match(errorOf(sameHost.bytes), /^address:2001:db8:1:2::\/64 is over/);
        // On the device itself: not counted.
        for (let i = 0; i < 5; i++) assert.equal((await postData(g, trngBytes(100))).status, 200);
      },
      proxies,
    );
  });
});

describe("GetUsage", () => {
  test("REST and RPC tell what is left, per source, and who the caller is", async () => {
    await withGateway({ keys: ApiKeys.parse(KEYS, LIMITS) }, async ({ g }) => {
      g.engine.feed("trng", Buffer.alloc(100));
      const fresh = await fetch(`${g.base}/api/v1/usage`);
      assert.equal(fresh.status, 200);
      assert.deepEqual(await fresh.json(), {
        client: "address:127.0.0.1",
        limited: true,
        trng: { requests: { left: 3, burst: 3, per_minute: 5, full_in_ms: 0 }, bytes: { left: 100, burst: 100, per_minute: 60, full_in_ms: 0 }, bits_left: 800 },
        fortuna: { requests: { left: 10, burst: 10, per_minute: 60, full_in_ms: 0 }, bytes: { left: 1000, burst: 1000, per_minute: 6000, full_in_ms: 0 }, bits_left: 8000 },
      });
      assert.equal((await postData(g, trngBytes(30))).status, 200);
      const u = await rpc(g, "grpc").getUsage({});
      assert.equal(u.client, "address:127.0.0.1");
      assert.equal(u.trng?.requests?.left, 2n);
      assert.equal(u.trng?.bytes?.left, 70n);
      assert.equal(u.trng?.bitsLeft, 560n);
      assert.equal(u.trng?.bytes?.fullInMs, 30_000n);
      assert.equal(u.fortuna?.bytes?.left, 1000n);
      // A key with Fortuna requests off: that allowance is absent.
      const bob = await rpc(g, "connect").getUsage({}, { headers: { "x-api-key": BOB } });
      assert.equal(bob.client, "key:bob");
      assert.equal(bob.trng?.bytes?.burst, 200n);
      assert.equal(bob.fortuna?.requests, undefined);
      assert.equal(bob.fortuna?.bytes?.left, 1000n);
    });
  });

  test("an exempt caller is told it is not limited", async () => {
    await withGateway({ exemptLoopback: true }, async ({ g }) => {
      const body = (await (await fetch(`${g.base}/api/v1/usage`)).json()) as { client: string; limited: boolean; trng: Record<string, unknown> };
      assert.equal(body.client, "address:127.0.0.1");
      assert.equal(body.limited, false);
      assert.deepEqual(body.trng, { requests: null, bytes: null, bits_left: null });
    });
  });
});
