// The gateway's RPCs as Connect clients use them (the Connect protocol spec):
// GET for the methods marked NO_SIDE_EFFECTS, 405 with Allow otherwise, and
// JSON enum names the server does not know reported as such.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import diagnostics from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../../gen/lokey/v1/gateway_pb.js";
import { startGateway, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";

let g: Gateway<FakeEngine>;
before(async () => {
  g = await startGateway();
});
after(async () => {
  await g.close();
});

describe("Connect GET", () => {
  test("a client with useHttpGet calls the side-effect-free methods over GET", async () => {
    // The transport turns POST into GET below its interceptors: watch what Node's HTTP client sends.
    const sent: string[] = [];
    const onRequest = (m: unknown) => {
      const { request } = m as { request: ClientRequest };
      sent.push(`${request.method} ${request.path.split("?", 1)[0]}`);
    };
    diagnostics.subscribe("http.client.request.start", onRequest);
    try {
      const client = createClient(GatewayService, createConnectTransport({ baseUrl: g.base, httpVersion: "1.1", useHttpGet: true }));
      const status = await client.getStatus({});
      assert.equal(status.trng?.queueCapacity, 1000n);
      const health = await client.getHealth({});
      assert.equal(typeof health.status, "string");
      await client.getConsumeConfig({});
    } finally {
      diagnostics.unsubscribe("http.client.request.start", onRequest);
    }
    // (A request may be seen more than once; what matters is that none was a POST.)
    assert.deepEqual([...new Set(sent)], [
      "GET /lokey.v1.GatewayService/GetStatus",
      "GET /lokey.v1.GatewayService/GetHealth",
      "GET /lokey.v1.GatewayService/GetConsumeConfig",
    ]);
  });

  test("GET of a side-effect-free method over JSON, as a cache would see it", async () => {
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/GetQueueConfig?connect=v1&encoding=json&message=%7B%7D`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { trngQueueSize: "1000", fortunaQueueSize: "1000" });
  });

  test("GET of a method with side effects: 405 with Allow: POST", async () => {
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/GetData?connect=v1&encoding=json&message=%7B%7D`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "POST");
    await res.body?.cancel();
  });

  test("another verb on a side-effect-free method: 405 naming GET and POST", async () => {
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/GetStatus`, { method: "PUT", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, POST");
    await res.body?.cancel();
  });
});

describe("Connect JSON enum names", () => {
  const SOURCES = "expected one of SOURCE_TRNG, SOURCE_FORTUNA";
  test("a REST spelling on the RPC names the field, the value and the accepted names", async () => {
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/GetData`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ format: "uint8", limit: 1, source: "SOURCE_TRNG" }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /^format: unknown value "uint8" \(expected one of FORMAT_INT8, FORMAT_INT16, .*FORMAT_BINARY\)$/);
    assert.doesNotMatch(body.message, /UNSPECIFIED|required/);
  });

  test("the proto field name works as well as the JSON name", async () => {
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/GetBytes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "SOURCE_TRNG", size: 1, encoding: "hex" }),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /^encoding: unknown value "hex" \(expected one of ENCODING_UNSPECIFIED, /);
  });

  test("a missing enum is still 'is required'", async () => {
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/GetData`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ limit: 1, source: "SOURCE_TRNG" }),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { message: string }).message, "format: is required");
  });

  test("a server stream over Connect JSON (enveloped) says the same", async () => {
    const msg = Buffer.from(JSON.stringify({ source: "trng" }));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.length, 1);
    const res = await fetch(`${g.base}/lokey.v1.GatewayService/StreamData`, {
      method: "POST",
      headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" },
      body: Buffer.concat([head, msg]),
    });
    // Connect streams answer 200; the error is the end-of-stream envelope (flag 0x02).
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(bytes[0], 0x02);
    const end = JSON.parse(bytes.subarray(5).toString("utf8")) as { error: { code: string; message: string } };
    assert.equal(end.error.code, "invalid_argument");
    assert.equal(end.error.message, `source: unknown value "trng" (${SOURCES})`);
  });
});
