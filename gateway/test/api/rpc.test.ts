// The same operations as RPCs: grpc-js (the project's client adapter) and
// Connect JSON over HTTP/1.1, returning the same values REST renders from the
// same bytes, with INVALID_ARGUMENT / NOT_FOUND where REST says 400 / 404.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../../gen/grpc/health/v1/health_pb.js";
import { Encoding, Format, GatewayService, Source } from "../../../gen/lokey/v1/gateway_pb.js";
import { createGrpcClient, type GrpcClient } from "../../../runtime/src/index.js";
import { post, startGateway, text, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";

let g: Gateway<FakeEngine>;
let grpc: GrpcClient<typeof GatewayService>;
before(async () => {
  g = await startGateway();
  grpc = createGrpcClient(GatewayService, g.address);
});
after(async () => {
  grpc.close();
  await g.close();
});
beforeEach(() => {
  for (const s of ["trng", "fortuna"] as const) g.engine.queues[s].bytes = Buffer.alloc(0);
  g.engine.consume = true;
});

const connectJson = () => createClient(GatewayService, createConnectTransport({ baseUrl: g.base, httpVersion: "1.1", useBinaryFormat: false }));

describe("GetData over grpc-js", () => {
  test("uint64 and int64 values equal the REST array and the raw bytes", async () => {
    const bytes = Buffer.from("ffffffffffffffff800000000000000000000000000000017fffffffffffffff", "hex");
    g.engine.consume = false;
    g.engine.feed("trng", bytes);
    const u = await grpc.getData({ format: Format.UINT64, limit: 4, source: Source.TRNG });
    assert.deepEqual(Buffer.from(u.data), bytes);
    assert.deepEqual(u.unsignedValues, [18446744073709551615n, 9223372036854775808n, 1n, 9223372036854775807n]);
    assert.deepEqual(u.signedValues, []);
    const s = await grpc.getData({ format: Format.INT64, limit: 4, source: Source.TRNG });
    assert.deepEqual(s.signedValues, [-1n, -9223372036854775808n, 1n, 9223372036854775807n]);
    const rest = await post(g.base, "/api/v1/data", { format: "uint64", limit: 4, source: "trng" });
    assert.equal(text(rest.bytes), `[${u.unsignedValues.join(",")}]`);
    const restSigned = await post(g.base, "/api/v1/data", { format: "int64", limit: 4, source: "trng" });
    assert.equal(text(restSigned.bytes), `[${s.signedValues.join(",")}]`);
  });

  test("small formats, binary, and NOT_FOUND with nothing consumed", async () => {
    g.engine.feed("fortuna", Buffer.from([0x80, 0x7f, 0xff]));
    const r = await grpc.getData({ format: Format.INT8, limit: 2, source: Source.FORTUNA });
    assert.deepEqual(r.signedValues, [-128n, 127n]);
    await assert.rejects(grpc.getData({ format: Format.BINARY, limit: 2, source: Source.FORTUNA }), (e: ConnectError) => e.code === Code.NotFound && e.rawMessage === "No data available");
    assert.equal(g.engine.available("fortuna"), 1);
    const b = await grpc.getData({ format: Format.BINARY, limit: 1, source: Source.FORTUNA });
    assert.deepEqual([...b.data], [0xff]);
    assert.deepEqual(b.unsignedValues, []);
  });

  test("rule violations are INVALID_ARGUMENT with the REST message, nothing consumed", async () => {
    g.engine.feed("trng", randomBytes(64));
    const cases = [
      [{ format: Format.UINT8, limit: 0, source: Source.TRNG }, "limit: must be an integer from 1 to 100000, got 0"],
      [{ format: Format.UNSPECIFIED, limit: 1, source: Source.TRNG }, "format: is required"],
      [{ format: 42 as Format, limit: 1, source: Source.TRNG }, "format: unknown value 42"],
      [{ format: Format.UINT8, limit: 1, source: Source.UNSPECIFIED }, "source: is required"],
      [{ format: Format.UINT8, limit: 1, offset: -1, source: Source.TRNG }, "offset: must be an integer from 0 to 100000000, got -1"],
    ] as const;
    for (const [req, message] of cases) {
      // grpc-message travels percent-encoded and the grpc-js adapter hands it over as is.
      await assert.rejects(grpc.getData(req), (e: ConnectError) => e.code === Code.InvalidArgument && decodeURIComponent(e.rawMessage) === message, message);
    }
    await assert.rejects(grpc.getIntegers({ source: Source.TRNG, min: 2n, max: 1n, count: 1 }), (e: ConnectError) => e.code === Code.InvalidArgument);
    assert.equal(g.engine.available("trng"), 64);
  });
});

describe("Connect JSON", () => {
  test("GetData carries the same bytes and values", async () => {
    const bytes = randomBytes(40);
    g.engine.feed("trng", bytes);
    const r = await connectJson().getData({ format: Format.UINT32, limit: 10, source: Source.TRNG });
    assert.deepEqual(Buffer.from(r.data), bytes);
    const want = Array.from({ length: 10 }, (_, i) => BigInt(bytes.readUInt32BE(i * 4)));
    assert.deepEqual(r.unsignedValues, want);
  });

  test("raw Connect JSON on the wire: 64-bit values as proto JSON strings, NOT_FOUND as not_found", async () => {
    g.engine.feed("trng", Buffer.alloc(8, 0xff));
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/GetData`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ format: "FORMAT_UINT64", limit: 1, source: "SOURCE_TRNG" }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { unsignedValues: string[]; data: string };
    assert.deepEqual(body.unsignedValues, ["18446744073709551615"]);
    assert.equal(body.data, Buffer.alloc(8, 0xff).toString("base64"));
    const empty = await fetch(`${g.base}/lokey.v1.GatewayService/GetData`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ format: "FORMAT_UINT64", limit: 1, source: "SOURCE_TRNG" }),
    });
    assert.equal(empty.status, 404);
    assert.deepEqual(await empty.json(), { code: "not_found", message: "No data available" });
  });

  test("configuration, health and status", async () => {
    const c = connectJson();
    assert.equal((await c.updateConsumeConfig({ consume: false })).consume, false);
    assert.equal((await c.getConsumeConfig({})).consume, false);
    assert.equal((await c.updateConsumeConfig({ consume: true })).consume, true);
    const q = await c.updateQueueConfig({ fortunaQueueSize: 1234n });
    assert.equal(q.fortunaQueueSize, 1234n);
    assert.equal((await grpc.getQueueConfig({})).fortunaQueueSize, 1234n);
    const h = await grpc.getHealth({});
    assert.equal(h.status, "healthy");
    assert.match(h.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const s = await grpc.getStatus({});
    assert.equal(s.trng?.origin, "emulator");
    assert.equal(s.database?.sizeHuman, "10.0 MB");
    const m = await c.getMetrics({});
    assert.match(m.contentType, /^text\/plain/);
    assert.match(m.text, /^fortuna_queue_capacity 1234$/m);
  });
});

describe("extras over RPC", () => {
  test("StreamData over grpc-js: chunked, bounded by max_bytes, in queue order", async () => {
    const bytes = randomBytes(5000);
    g.engine.feed("fortuna", bytes);
    const got: Buffer[] = [];
    for await (const msg of grpc.streamData({ source: Source.FORTUNA, maxBytes: 3000n, chunkSize: 1024 })) got.push(Buffer.from(msg.data));
    assert.deepEqual(got.map((b) => b.length), [1024, 1024, 952]);
    assert.deepEqual(Buffer.concat(got), bytes.subarray(0, 3000));
    assert.equal(g.engine.available("fortuna"), 2000);
  });

  test("StreamData: a client that stops reading stops consumption", async () => {
    g.engine.endless.add("trng");
    try {
      const ac = new AbortController();
      let n = 0;
      try {
        for await (const msg of grpc.streamData({ source: Source.TRNG, chunkSize: 4096 }, { signal: ac.signal })) {
          n += msg.data.length;
          if (n >= 4096 * 3) break;
        }
      } finally {
        ac.abort();
      }
      await g.engine.streamsStopped();
      // Flow control bounds what the server took beyond what we read (HTTP/2 windows, not unbounded).
      const consumed = g.engine.queues.trng.consumed;
      assert.ok(consumed < 4096n * 3n + 4n * 1024n * 1024n, String(consumed));
    } finally {
      g.engine.endless.delete("trng");
    }
  });

  test("GetUuids, GetBytes, GetIntegers over grpc-js", async () => {
    g.engine.feed("trng", Buffer.alloc(32, 0xff));
    const u = await grpc.getUuids({ source: Source.TRNG, count: 2 });
    assert.deepEqual(u.uuids, ["ffffffff-ffff-4fff-bfff-ffffffffffff", "ffffffff-ffff-4fff-bfff-ffffffffffff"]);
    g.engine.feed("trng", Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    const b = await grpc.getBytes({ source: Source.TRNG, length: 4, encoding: Encoding.BASE64 });
    assert.equal(b.data, "3q2+7w==");
    assert.equal(b.encoding, Encoding.BASE64);
    g.engine.feed("trng", Buffer.alloc(16, 0));
    const i = await grpc.getIntegers({ source: Source.TRNG, min: -(2n ** 63n), max: 2n ** 63n - 1n, count: 2 });
    assert.deepEqual(i.values, [-(2n ** 63n), -(2n ** 63n)]);
  });
});

describe("gRPC health", () => {
  test("follows the engine: NOT_SERVING while the database is down, SERVING when a mere upstream is", async () => {
    const h = await startGateway(undefined, { healthIntervalMs: 20 });
    const client = createGrpcClient(Health, h.address);
    const until = async (want: Serving) => {
      for (;;) {
        const [overall, svc] = await Promise.all([client.check({ service: "" }), client.check({ service: GatewayService.typeName })]);
        if (overall.status === want && svc.status === want) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    try {
      await until(Serving.SERVING);
      h.engine.healthState = { ...h.engine.healthState, database: false };
      await until(Serving.NOT_SERVING);
      h.engine.healthState = { ...h.engine.healthState, database: true, controller: false };
      await until(Serving.SERVING);
    } finally {
      client.close();
      await h.close();
    }
  });
});
