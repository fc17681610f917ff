// Config writes are admin calls (ACCESS_ADMIN in gateway.proto): with
// ADMIN_TOKEN they need the bearer token, without one only callers on this
// machine may make them, and no web page of another origin ever can.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../../gen/lokey/v1/gateway_pb.js";
import { createLogger } from "../../../runtime/src/index.js";
import { startGateway, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";

const TOKEN = "s3cret-admin-token-0123456789";

async function putConsume(g: Gateway<FakeEngine>, consume: boolean, headers: Record<string, string> = {}) {
  const res = await fetch(`${g.base}/api/v1/config/consume`, {
    method: "PUT",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ consume }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe("with ADMIN_TOKEN", () => {
  let g: Gateway<FakeEngine>;
  const lines: Record<string, unknown>[] = [];
  before(async () => {
    const log = createLogger("gateway", { write: (l) => lines.push(JSON.parse(l)) });
    g = await startGateway(undefined, { log }, { security: { allowedClients: [], adminToken: Buffer.from(TOKEN) } });
  });
  after(() => g.close());
  beforeEach(() => {
    g.engine.consume = true;
  });

  test("REST: 401 without a token, 403 with a wrong one, 200 with the right one; refusals change nothing", async () => {
    const none = await putConsume(g, false);
    assert.equal(none.status, 401);
    assert.match(String(none.body.error), /requires Authorization: Bearer/);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    const wrong = await putConsume(g, false, { Authorization: `Bearer ${TOKEN}x` });
    assert.equal(wrong.status, 403);
    assert.match(String(wrong.body.error), /admin token is wrong/);
    assert.equal(g.engine.consume, true);
    const queue = await fetch(`${g.base}/api/v1/config/queue`, { method: "PUT", body: JSON.stringify({ trng_queue_size: 50 }) });
    assert.equal(queue.status, 401);
    assert.deepEqual(lines.filter((l) => l.msg === "config changed"), [], "refused writes change nothing and log no change");
    const right = await putConsume(g, false, { Authorization: `Bearer ${TOKEN}` });
    assert.equal(right.status, 200);
    assert.deepEqual(right.body, { consume: false });
    assert.equal(g.engine.consume, false);
  });

  test("every accepted change is logged with the old and new value and the client's address", async () => {
    lines.length = 0;
    const auth = { Authorization: `Bearer ${TOKEN}` };
    assert.equal((await putConsume(g, false, auth)).status, 200);
    const before = g.engine.getQueueConfig();
    const queue = await fetch(`${g.base}/api/v1/config/queue`, { method: "PUT", headers: auth, body: JSON.stringify({ trng_queue_size: 50 }) });
    assert.equal(queue.status, 200);
    const changes = lines.filter((l) => l.msg === "config changed").map(({ setting, from, to, client }) => ({ setting, from, to, client }));
    assert.deepEqual(changes, [
      { setting: "consume", from: true, to: false, client: "127.0.0.1" },
      { setting: "queue sizes", from: before, to: { ...before, trng: 50 }, client: "127.0.0.1" },
    ]);
  });

  test("even a loopback caller needs the token once one is configured", async () => {
    assert.equal((await putConsume(g, false)).status, 401);
  });

  test("reads stay open", async () => {
    const res = await fetch(`${g.base}/api/v1/config/consume`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { consume: true });
  });

  for (const [name, transport] of [
    ["gRPC", () => createGrpcTransport({ baseUrl: g.base })],
    ["Connect", () => createConnectTransport({ baseUrl: g.base, httpVersion: "1.1" })],
  ] as const) {
    test(`${name}: UNAUTHENTICATED without a token, PERMISSION_DENIED with a wrong one, accepted with the right one`, async () => {
      const client = createClient(GatewayService, transport());
      await assert.rejects(client.updateConsumeConfig({ consume: false }), (e: ConnectError) => e.code === Code.Unauthenticated);
      await assert.rejects(
        client.updateConsumeConfig({ consume: false }, { headers: { Authorization: "Bearer not-the-token-at-all" } }),
        (e: ConnectError) => e.code === Code.PermissionDenied,
      );
      assert.equal(g.engine.consume, true);
      const ok = await client.updateConsumeConfig({ consume: false }, { headers: { Authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.consume, false);
      assert.equal(g.engine.consume, false);
    });
  }
});

describe("without ADMIN_TOKEN: callers on this machine only", () => {
  let g: Gateway<FakeEngine>;
  const proxies = new BlockList();
  proxies.addAddress("127.0.0.1");
  before(async () => {
    g = await startGateway(undefined, {}, { security: { allowedClients: [], trustedProxies: proxies } });
  });
  after(() => g.close());
  beforeEach(() => {
    g.engine.consume = true;
  });

  test("a loopback client may write", async () => {
    const res = await putConsume(g, false);
    assert.equal(res.status, 200);
    assert.equal(g.engine.consume, false);
  });

  test("a client elsewhere, seen through a trusted proxy, is refused with 403 and changes nothing", async () => {
    const res = await putConsume(g, false, { "X-Forwarded-For": "203.0.113.7" });
    assert.equal(res.status, 403);
    assert.match(String(res.body.error), /ADMIN_TOKEN/);
    assert.equal(g.engine.consume, true);
  });
});

describe("a loopback socket that relays for someone else is not local", () => {
  let g: Gateway<FakeEngine>;
  before(async () => {
    g = await startGateway();
  });
  after(() => g.close());

  test("X-Forwarded-For from an untrusted local proxy: 403", async () => {
    assert.equal((await putConsume(g, false, { "X-Forwarded-For": "127.0.0.1" })).status, 403);
    assert.equal((await putConsume(g, false, { Forwarded: "for=198.51.100.2" })).status, 403);
    assert.equal(g.engine.consume, true);
  });
});

describe("CORS: no cross-origin admin writes", () => {
  let g: Gateway<FakeEngine>;
  before(async () => {
    g = await startGateway();
  });
  after(() => g.close());

  test("a preflight for PUT on a config route gets no Access-Control-Allow-Origin", async () => {
    for (const path of ["/api/v1/config/consume", "/api/v1/config/queue"]) {
      const res = await fetch(g.base + path, { method: "OPTIONS", headers: { Origin: "http://evil.example", "Access-Control-Request-Method": "PUT" } });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), null, path);
    }
    const rpc = await fetch(`${g.base}/lokey.v1.GatewayService/UpdateConsumeConfig`, {
      method: "OPTIONS",
      headers: { Origin: "http://evil.example", "Access-Control-Request-Method": "POST" },
    });
    assert.equal(rpc.headers.get("access-control-allow-origin"), null);
  });

  test("data routes and config reads keep the documented CORS", async () => {
    const data = await fetch(`${g.base}/api/v1/data`, { method: "OPTIONS", headers: { Origin: "http://x.example", "Access-Control-Request-Method": "POST" } });
    assert.equal(data.headers.get("access-control-allow-origin"), "*");
    const read = await fetch(`${g.base}/api/v1/config/consume`, { headers: { Origin: "http://x.example" } });
    assert.equal(read.headers.get("access-control-allow-origin"), "*");
  });

  test("a write that carries another origin is refused even from loopback (no preflight needed for it to arrive)", async () => {
    const res = await putConsume(g, false, { Origin: "http://evil.example" });
    assert.equal(res.status, 403);
    assert.match(String(res.body.error), /another origin/);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(g.engine.consume, true);
    // The gateway's own pages (same origin) may write.
    const own = await putConsume(g, false, { Origin: g.base });
    assert.equal(own.status, 200);
  });
});
