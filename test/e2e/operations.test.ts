// Issue 14, item 4, on the stack a user runs (`npm start`): /metrics on every
// port passes `promtool check metrics` and its series move with the answers
// given, and a client that goes away mid-stream (HTTP/1.1 close, RST_STREAM
// CANCEL, a dropped connection, a body cut off) leaves one debug line, never
// a stack trace or a warning. docs/operations.md describes both. Time
// bounds are liveness bounds for a loaded 2-core machine.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { connect as h2connect, constants } from "node:http2";
import { request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/lokey/v1/gateway_pb.js";
import { eventually, hasSeries, metricValue, promtoolMissing, promtoolProblems } from "../../runtime/test/prometheus.js";
import { startStack, type Stack } from "./npm-start.js";

const BOUND_MS = 120_000;
type Name = keyof Stack["ports"];
let stack: Stack;
let ports: Stack["ports"];
let lines: string[];

const certs = () => stack.certsDir;
const gateway = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${ports.gateway}${path}`, init);
// An IP address is no TLS server name (RFC 6066 §3); every LoKey certificate names localhost.
const tls = (asGateway = false) => ({
  ca: readFileSync(join(certs(), "ca.crt")),
  servername: "localhost",
  ...(asGateway && { cert: readFileSync(join(certs(), "gateway.crt")), key: readFileSync(join(certs(), "gateway.key")) }),
});

function upstreamGet(name: "controller" | "fortuna", path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpsRequest(`https://127.0.0.1:${ports[name]}${path}`, tls(), (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c) => (body += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${path}: ${res.statusCode} ${body}`))));
    })
      .on("error", reject)
      .end();
  });
}

const scrape = async (name: Name) => (name === "gateway" ? (await gateway("/metrics")).text() : upstreamGet(name, "/metrics"));
const requests = (text: string, labels: Record<string, string>) => metricValue(text, "lokey_requests_total", labels);

before(async () => {
  stack = await startStack({
    // The one line a disconnect leaves is a debug line.
    LOG_LEVEL: "debug",
    ACCESS_LOG: "false",
    // Loopback callers are counted, and two TRNG requests a minute are all one gets.
    QUOTA_EXEMPT_LOOPBACK: "false",
    QUOTA_TRNG_REQUESTS_PER_MIN: "2",
  });
  ({ ports, lines } = stack);
  // Seeded, and Fortuna's stream delivering: the streams below have bytes to send.
  await eventually(async () => {
    const status = (await (await gateway("/api/v1/status")).json()) as { fortuna?: { connected?: boolean; queue_current?: number } };
    return status.fortuna?.connected === true && (status.fortuna.queue_current ?? 0) > 0;
  }, "Fortuna streaming into the gateway", BOUND_MS).catch((err: Error) => {
    throw new Error(`${err.message}; output:\n${lines.slice(-40).join("\n")}`);
  });
});

after(() => stack?.stop());

describe("/metrics on every port", () => {
  test("request series move by protocol, route and code; quota refusals and upstream states show", async () => {
    const before = await scrape("gateway");
    const data = (body: object) => gateway("/api/v1/data", { method: "POST", body: JSON.stringify(body) });
    assert.equal((await data({ format: "nope", limit: 1, source: "fortuna" })).status, 400);
    const trng = [];
    for (let i = 0; i < 3; i++) trng.push((await data({ format: "uint8", limit: 1, source: "trng" })).status);
    // Two requests in the bucket, whether or not the queue had a byte; the third is refused.
    assert.ok([200, 404].includes(trng[0]) && [200, 404].includes(trng[1]) && trng[2] === 429, `statuses ${trng}`);
    const grpc = createClient(GatewayService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${ports.gateway}` }));
    await grpc.getStatus({});

    const route = "POST /api/v1/data";
    let now = before;
    await eventually(async () => {
      now = await scrape("gateway");
      return requests(now, { route, code: "resource_exhausted" }) > requests(before, { route, code: "resource_exhausted" });
    }, "the refusal counted");
    const delta = (labels: Record<string, string>) => requests(now, labels) - requests(before, labels);
    assert.equal(delta({ protocol: "rest", route, code: "invalid_argument" }), 1);
    assert.equal(delta({ protocol: "rest", route, code: "resource_exhausted" }), 1);
    assert.equal(delta({ protocol: "grpc", route: "/lokey.v1.GatewayService/GetStatus", code: "ok" }), 1);
    const refusals = (t: string) => metricValue(t, "lokey_quota_refusals_total", { source: "trng", reason: "requests" });
    assert.equal(refusals(now) - refusals(before), 1);
    for (const kind of ["controller", "fortuna"]) assert.equal(metricValue(now, "lokey_upstream_up", { kind }), 1, kind);
    assert.equal(metricValue(now, "lokey_upstream_streaming", { kind: "fortuna" }), 1);
    // The documented gauges are still there (docs/reference/rest-api.md).
    assert.ok(hasSeries(now, "trng_queue_current") && hasSeries(now, "database_size_bytes"));

    const controller = await scrape("controller");
    for (const test of ["repetition_count", "adaptive_proportion", "monobit", "fixed_pattern"]) assert.ok(hasSeries(controller, "lokey_health_test_failures_total", { test }), test);
    assert.ok(hasSeries(controller, "lokey_health_startup_failures_total"));
    assert.equal(metricValue(controller, "lokey_health_tests_passing"), 1);
    // Seeding took samples from the controller and gave them to Fortuna.
    assert.ok(requests(controller, { protocol: "grpc", route: "/lokey.controller.v1.ControllerService/Generate", code: "ok" }) >= 1);
    const fortuna = await scrape("fortuna");
    assert.ok(requests(fortuna, { protocol: "grpc", route: "/lokey.fortuna.v1.FortunaService/Seed", code: "ok" }) >= 1);
    // The gateway's streams from both are open.
    for (const text of [controller, fortuna]) assert.ok(metricValue(text, "lokey_requests_in_flight") >= 1);
  });

  test("after a burst, the freed heap goes back to the system, counted on every port", async () => {
    const trimmed = async (name: Name) => {
      const text = await scrape(name);
      return { trims: metricValue(text, "lokey_heap_trims_total"), bytes: metricValue(text, "lokey_heap_trimmed_bytes_total") };
    };
    const before = { fortuna: await trimmed("fortuna"), gateway: await trimmed("gateway") };
    // 2 MB out of the Fortuna queue: Fortuna streams its refill, the gateway stores it.
    for (let i = 0; i < 20; i++) {
      const res = await gateway("/api/v1/data", { method: "POST", body: JSON.stringify({ format: "binary", limit: 100000, source: "fortuna" }) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    // runtime/src/heap-trim.ts: a trim follows the collections of the burst.
    for (const name of ["fortuna", "gateway"] as const) {
      await eventually(async () => (await trimmed(name)).trims > before[name].trims, `a trim in ${name}`, BOUND_MS);
      assert.ok((await trimmed(name)).bytes > before[name].bytes, `${name}: its trims gave nothing back`);
    }
    // The controller collects too (its sampling never stops), and trims at least every 30 s.
    await eventually(async () => (await trimmed("controller")).trims >= 1, "a trim in the controller", BOUND_MS);
  });

  test("every exposition passes promtool check metrics", { skip: promtoolMissing }, async () => {
    for (const name of Object.keys(ports) as Name[]) assert.equal(promtoolProblems(await scrape(name)), "", name);
  });
});

/** Opens a stream, and drops it in its own way once the first bytes arrived. */
function cutAfterFirstBytes(open: (onData: () => void) => void): Promise<void> {
  return new Promise((resolve) => open(resolve));
}

describe("a client that goes away", () => {
  test("leaves one debug line per request, and no stack trace or warning", async () => {
    const mark = lines.length;
    const canceled = async (name: Name) => requests(await scrape(name), { code: "canceled" });
    const before = { gateway: await canceled("gateway"), fortuna: await canceled("fortuna") };
    const base = `http://127.0.0.1:${ports.gateway}`;
    const stream = "/api/v1/stream?source=fortuna";

    // REST over HTTP/1.1: the connection closed mid-body.
    await cutAfterFirstBytes((cut) => {
      const req = httpGet(`${base}${stream}`, (res) => res.once("data", () => (req.destroy(), cut())));
      req.on("error", () => undefined);
    });
    // REST and gRPC over HTTP/2: the stream cancelled, the connection dropped.
    for (const [headers, body, how] of [
      [{ ":path": stream }, undefined, "cancel"],
      [{ ":method": "POST", ":path": "/lokey.v1.GatewayService/StreamData", "content-type": "application/grpc", te: "trailers" }, Buffer.from([0, 0, 0, 0, 2, 0x08, 0x02]), "drop"],
    ] as const) {
      const session = h2connect(base).on("error", () => undefined);
      await cutAfterFirstBytes((cut) => {
        const s = session.request(headers).on("error", () => undefined);
        s.once("data", () => (how === "cancel" ? (s.close(constants.NGHTTP2_CANCEL), session.close()) : session.destroy(), cut()));
        s.end(body);
      });
    }
    // gRPC StreamRandom on Fortuna, as the gateway would call it, cancelled.
    const fortuna = h2connect(`https://127.0.0.1:${ports.fortuna}`, tls(true)).on("error", () => undefined);
    await cutAfterFirstBytes((cut) => {
      const s = fortuna.request({ ":method": "POST", ":path": "/lokey.fortuna.v1.FortunaService/StreamRandom", "content-type": "application/grpc", te: "trailers" });
      s.on("error", () => undefined).once("data", () => (s.close(constants.NGHTTP2_CANCEL), fortuna.close(), cut()));
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    // The streams' ends counted first, so nothing else leaves the gateway's in-flight count below.
    const cutCount = async (name: Name) => (await canceled(name)) - before[name as keyof typeof before];
    await eventually(async () => (await cutCount("gateway")) >= 3, "the stream cuts counted as canceled", BOUND_MS);
    // A request body cut off while the gateway reads it (it is in flight once its head arrived).
    const inFlight = async () => metricValue(await scrape("gateway"), "lokey_requests_in_flight");
    const idle = await inFlight();
    const socket = netConnect(ports.gateway, "127.0.0.1").on("error", () => undefined);
    socket.write(`POST /api/v1/data HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"format":`);
    await eventually(async () => (await inFlight()) > idle, "the cut-off request in flight");
    socket.destroy();

    const expected = { gateway: 4, fortuna: 1 };
    await eventually(async () => (await cutCount("gateway")) >= expected.gateway && (await cutCount("fortuna")) >= expected.fortuna, "every cut counted as canceled", BOUND_MS);

    // The counters move when a response closes; its log line then travels
    // through npm start's pipe, so wait for the lines too (a loaded machine lags).
    const goneLines = () => lines.slice(mark).filter((l) => l.startsWith("gateway") && l.includes("client went away before the answer was complete")).length;
    await eventually(async () => goneLines() >= expected.gateway, "every cut logged by the gateway", BOUND_MS);

    const after = lines.slice(mark);
    // Everything the services printed is their JSON logger's: no stack traces, no warnings from Node.
    assert.deepEqual(after.filter((l) => l.includes("    at ") || !/^(controller|fortuna|gateway)\s*\| \{.*\}$/.test(l)), []);
    const entries = after.map((l) => ({ service: l.split(/\s*\|/, 1)[0], ...(JSON.parse(l.slice(l.indexOf("{"))) as { level: string; msg: string; route?: string; protocol?: string }) }));
    const disconnect = /abort|ECONNRESET|premature|RST_STREAM|NGHTTP2|EPIPE|hang up|REST stream ended|RPC answer failed|request failed|REST handler failed/i;
    assert.deepEqual(entries.filter((e) => (e.level === "warn" || e.level === "error") && disconnect.test(JSON.stringify(e))), []);
    const wentAway = (service: string) => entries.filter((e) => e.service === service && e.msg === "client went away before the answer was complete");
    assert.deepEqual(
      wentAway("gateway").map((e) => `${e.protocol} ${e.route}`).sort(),
      ["grpc /lokey.v1.GatewayService/StreamData", "rest GET /api/v1/stream", "rest GET /api/v1/stream", "rest POST /api/v1/data"],
    );
    // Fortuna: this test's stream, and any of the gateway's own it may have reconnected meanwhile; one line each.
    const fortunaLines = wentAway("fortuna");
    assert.ok(fortunaLines.length >= 1 && fortunaLines.every((e) => e.route === "/lokey.fortuna.v1.FortunaService/StreamRandom"), JSON.stringify(fortunaLines));
    assert.ok(fortunaLines.length <= (await cutCount("fortuna")));
  });
});
