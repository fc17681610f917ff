import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1, ServerReflectionRequestSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createGrpcClient } from "../src/index.js";
import { fixturePerFile, startFixture } from "./fixture.js";

const fx = fixturePerFile();

const grpc = () => createGrpcTransport({ baseUrl: fx.base });

async function reflect(service: typeof ReflectionV1 | typeof ReflectionV1Alpha, request: object) {
  const client = createClient(service as typeof ReflectionV1, grpc());
  async function* one() {
    yield create(ServerReflectionRequestSchema, { host: "", messageRequest: request as never });
  }
  for await (const res of client.serverReflectionInfo(one())) return res.messageResponse;
  throw new Error("no reflection answer");
}

describe("reflection", () => {
  for (const svc of [ReflectionV1, ReflectionV1Alpha]) {
    test(`${svc.typeName} lists every served service`, async () => {
      const r = await reflect(svc, { case: "listServices", value: "" });
      assert.equal(r.case, "listServicesResponse");
      const names = r.value.service.map((s) => s.name);
      for (const n of ["lokey.fortuna.v1.FortunaService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]) {
        assert.ok(names.includes(n), `${n} in ${names}`);
      }
    });
  }

  test("file containing a method symbol comes with its dependencies", async () => {
    const r = await reflect(ReflectionV1, { case: "fileContainingSymbol", value: "lokey.fortuna.v1.FortunaService.Generate" });
    assert.equal(r.case, "fileDescriptorResponse");
    const files = r.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    assert.equal(files[0].name, "lokey/fortuna/v1/fortuna.proto");
    assert.ok(files[0].service[0].method.some((m) => m.name === "StreamRandom" && m.serverStreaming));
    const names = files.map((f) => f.name);
    for (const dep of ["google/api/annotations.proto", "google/api/http.proto", "google/protobuf/descriptor.proto", "lokey/options/v1/options.proto"]) {
      assert.ok(names.includes(dep), `${dep} in ${names}`);
    }
  });

  test("file by name, extension numbers, and a clear error for unknown symbols", async () => {
    const byName = await reflect(ReflectionV1, { case: "fileByFilename", value: "grpc/health/v1/health.proto" });
    assert.equal(byName.case, "fileDescriptorResponse");
    const ext = await reflect(ReflectionV1, { case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" });
    assert.equal(ext.case, "allExtensionNumbersResponse");
    assert.ok(ext.value.extensionNumber.includes(51701));
    const missing = await reflect(ReflectionV1, { case: "fileContainingSymbol", value: "no.such.Thing" });
    assert.equal(missing.case, "errorResponse");
    assert.equal(missing.value.errorCode, 5);
  });
});

describe("health", () => {
  test("Check answers SERVING, follows the registry, and NOT_FOUND for unknown services", async () => {
    const client = createClient(Health, grpc());
    assert.equal((await client.check({ service: "" })).status, Status.SERVING);
    fx.server.health.set("lokey.fortuna.v1.FortunaService", "NOT_SERVING");
    assert.equal((await client.check({ service: "lokey.fortuna.v1.FortunaService" })).status, Status.NOT_SERVING);
    await assert.rejects(client.check({ service: "nope" }), (e: ConnectError) => e.code === Code.NotFound);
  });

  test("Watch streams the current status, then changes", async () => {
    const client = createClient(Health, grpc());
    const abort = new AbortController();
    const seen: Status[] = [];
    fx.server.health.set("watched", "SERVING");
    const stream = client.watch({ service: "watched" }, { signal: abort.signal });
    const done = (async () => {
      try {
        for await (const r of stream) {
          seen.push(r.status);
          if (seen.length === 1) fx.server.health.set("watched", "NOT_SERVING");
          if (seen.length === 2) abort.abort();
        }
      } catch (e) {
        if (!(e instanceof ConnectError && e.code === Code.Canceled)) throw e;
      }
    })();
    await done;
    assert.deepEqual(seen, [Status.SERVING, Status.NOT_SERVING]);
  });
});

describe("protocols on one port", () => {
  test("Connect JSON over HTTP/1.1", async () => {
    const client = createClient(FortunaService, createConnectTransport({ baseUrl: fx.base, httpVersion: "1.1" }));
    const res = await client.generate({ size: 3 });
    assert.deepEqual([...res.data], [0, 1, 2]);
  });

  test("gRPC-Web over HTTP/1.1", async () => {
    const client = createClient(FortunaService, createGrpcWebTransport({ baseUrl: fx.base, httpVersion: "1.1" }));
    assert.equal((await client.generate({ size: 5 })).size, 5);
  });

  test("gRPC with a grpc-js client: unary, 64-bit values, server stream", async () => {
    const client = createGrpcClient(FortunaService, `127.0.0.1:${fx.server.port}`);
    try {
      assert.equal((await client.generate({ size: 2 })).size, 2);
      const chunks: number[] = [];
      for await (const m of client.streamRandom({ chunkSize: 2 })) {
        chunks.push(m.data[0]);
        if (chunks.length === 3) break;
      }
      assert.deepEqual(chunks, [0, 1, 2]);
    } finally {
      client.close();
    }
  });

  test("rule violations are INVALID_ARGUMENT over gRPC, with the field named", async () => {
    const client = createGrpcClient(FortunaService, `127.0.0.1:${fx.server.port}`);
    try {
      await assert.rejects(client.generate({ size: 0 }), (e: ConnectError) => e.code === Code.InvalidArgument && /size/.test(e.rawMessage));
      await assert.rejects(client.generate({ size: 2_000_000 }), (e: ConnectError) => e.code === Code.InvalidArgument && /1048576/.test(e.rawMessage));
      await assert.rejects(client.seed({ seeds: [] }), (e: ConnectError) => e.code === Code.InvalidArgument && /seeds/.test(e.rawMessage));
    } finally {
      client.close();
    }
  });

  test("messages over the size limit are refused on Connect", async () => {
    const client = createClient(FortunaService, createConnectTransport({ baseUrl: fx.base, httpVersion: "1.1" }));
    const seeds = Array.from({ length: 64 }, () => new Uint8Array(1024 + 1));
    await assert.rejects(client.seed({ seeds }), (e: ConnectError) => e.code === Code.ResourceExhausted || e.code === Code.InvalidArgument);
  });
});

describe("REST transcoding", () => {
  const get = (path: string, init?: RequestInit) => fetch(fx.base + path, init);

  test("GET with query mapping and hex bytes", async () => {
    const res = await get("/generate?size=3");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(await res.json(), { data: "000102", size: 3 });
  });

  test("POST body read as JSON whatever the Content-Type, with a render hook", async () => {
    const res = await get("/seed", { method: "POST", body: '{"seeds":["00ff","abcd"]}', headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "pooled", count: 2 });
  });

  test("64-bit integers are exact JSON numbers", async () => {
    const p = fx.server.close; // keep lint quiet about unused
    void p;
    const pending = get("/info");
    await fx.slowStarted;
    fx.release();
    const text = await (await pending).text();
    assert.match(text, /"reseed_count":1152921504606846977[,}]/);
  });

  const bad: [string, string, RequestInit | undefined, number, RegExp][] = [
    ["unknown route", "/nope", undefined, 404, /Not found/],
    ["wrong method", "/generate", { method: "DELETE" }, 405, /not allowed/],
    ["missing required field", "/generate", undefined, 400, /size: is required/],
    ["out of range", "/generate?size=0", undefined, 400, /size: must be an integer from 1 to 1048576/],
    ["above the maximum", "/generate?size=1048577", undefined, 400, /size: must be/],
    ["non-integer", "/generate?size=1.5", undefined, 400, /size: must be an integer/],
    ["negative", "/generate?size=-4", undefined, 400, /size: must be/],
    ["unknown query parameter", "/generate?size=1&colour=red", undefined, 400, /unknown query parameter/],
    ["malformed JSON", "/seed", { method: "POST", body: '{"seeds": [' }, 400, /Invalid request body/],
    ["empty body", "/seed", { method: "POST", body: "" }, 400, /Invalid request body/],
    ["wrong type", "/seed", { method: "POST", body: '{"seeds": 5}' }, 400, /Invalid request body/],
    ["not hex", "/seed", { method: "POST", body: '{"seeds": ["zz"]}' }, 400, /seeds\[0\]: must be a hex string/],
    ["unknown field", "/seed", { method: "POST", body: '{"seeds": ["00"], "extra": 1}' }, 400, /Invalid request body/],
    ["body not an object", "/seed", { method: "POST", body: "[1,2]" }, 400, /Invalid request body/],
    ["oversized body", "/seed", { method: "POST", body: JSON.stringify({ seeds: ["00".repeat(40000)] }) }, 400, /Invalid request body .*larger than 65536 bytes/],
    ["number for a string", "/seed", { method: "POST", body: '{"seeds": [12]}' }, 400, /Invalid request body seeds\[0\]: expected a string/],
    ["string for an array", "/seed", { method: "POST", body: '{"seeds": "00"}' }, 400, /Invalid request body seeds: expected an array/],
  ];
  for (const [what, path, init, status, pattern] of bad) {
    test(`${what}: ${status} with a JSON error`, async () => {
      const res = await get(path, init);
      assert.equal(res.status, status);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      const body = (await res.json()) as { error: string };
      // The documented shape exactly; why a body was refused is in a header.
      assert.deepEqual(Object.keys(body), ["error"]);
      const detail = res.headers.get("x-error-detail") ?? "";
      assert.equal(typeof body.error, "string");
      assert.match(`${body.error} ${detail}`, pattern);
    });
  }

  test("CORS preflight answers 204 with the documented headers", async () => {
    const res = await get("/seed", { method: "OPTIONS" });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /GET, POST, PUT, DELETE, OPTIONS/);
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /Content-Type, Authorization, Accept/);
  });
});

describe("deadlines", () => {
  test("a grpc-js deadline ends a slow call with DEADLINE_EXCEEDED and aborts the handler's signal", async () => {
    const own = await startFixture();
    const client = createGrpcClient(FortunaService, `127.0.0.1:${own.server.port}`);
    try {
      await assert.rejects(client.getInfo({}, { timeoutMs: 200 }), (e: ConnectError) => e.code === Code.DeadlineExceeded);
    } finally {
      own.release();
      client.close();
      await own.server.close();
    }
  });
});

describe("graceful shutdown", () => {
  test("finishes a request in flight, then refuses new connections", async () => {
    const own = await startFixture();
    const client = createGrpcClient(FortunaService, `127.0.0.1:${own.server.port}`);
    try {
      const pending = client.getInfo({});
      await own.slowStarted;
      const closed = own.server.close();
      assert.equal(own.server.health.isServing(), false);
      own.release();
      const info = await pending;
      assert.equal(info.service, "fixture");
      await closed;
      await assert.rejects(fetch(`${own.base}/generate?size=1`));
    } finally {
      client.close();
    }
  });
});
