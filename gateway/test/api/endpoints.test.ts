// The documented GET/PUT endpoints, CORS, metrics, streaming, OpenAPI and
// Swagger UI over real HTTP.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { put, startGateway, type Gateway } from "./harness.js";
import { FakeEngine } from "./fake-engine.js";

let g: Gateway<FakeEngine>;
before(async () => {
  g = await startGateway(new FakeEngine(), { now: () => new Date("2026-01-02T03:04:05.678Z") });
});
after(() => g.close());

const get = async (path: string) => {
  const res = await fetch(g.base + path);
  return { status: res.status, headers: res.headers, text: await res.text() };
};

describe("GET /api/v1/health", () => {
  const cases: [string, Partial<{ controller: boolean; fortuna: boolean; database: boolean }>, string][] = [
    ["healthy", {}, "healthy"],
    ["controller down", { controller: false }, "degraded"],
    ["fortuna down", { fortuna: false }, "degraded"],
    ["database down", { database: false }, "unhealthy"],
  ];
  for (const [name, change, status] of cases) {
    test(`${name} -> ${status}`, async () => {
      g.engine.healthState = { controller: true, fortuna: true, database: true, seeded: true, ...change };
      const r = await get("/api/v1/health");
      assert.equal(r.status, 200);
      const details = { api: true, controller: true, fortuna: true, database: true, ...change };
      assert.equal(r.text, JSON.stringify({ status, timestamp: "2026-01-02T03:04:05Z", details, storage_fault: "" }));
    });
  }
  after(() => {
    g.engine.healthState = { controller: true, fortuna: true, database: true, seeded: true };
  });
});

test("GET /api/v1/status: the documented keys per source, the origin of the data, and the database", async () => {
  g.engine.queues.trng.bytes = Buffer.alloc(0);
  g.engine.feed("trng", randomBytes(64));
  g.engine.queues.fortuna.dropped = 2n ** 60n + 3n;
  const r = await get("/api/v1/status");
  assert.equal(r.status, 200);
  // The documented keys first, in order; origin and connected added so an OS fallback is never mistaken for hardware.
  const keys = ["polling_count", "queue_current", "queue_capacity", "queue_percentage", "queue_dropped", "consumed_count", "unconsumed_count", "total_generated", "origin", "connected"];
  const body = JSON.parse(r.text) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(body), ["trng", "fortuna", "database", "chips", "fortuna_instances"]);
  assert.deepEqual(Object.keys(body.trng), keys);
  assert.deepEqual(Object.keys(body.fortuna), keys);
  assert.deepEqual(body.database, { size_bytes: 10485760, size_human: "10.0 MB", path: "/tmp/fake-db", encryption: "aes-256-ctr, key in memory only (queues dropped on restart)", storage_fault: "" });
  assert.equal(body.trng.queue_current, 2);
  assert.equal(body.trng.queue_percentage, 0.2);
  // 64-bit counters are exact in the text.
  assert.match(r.text, /"queue_dropped":1152921504606846979/);
});

test("GET /api/v1/status: every chip by serial number, and every Fortuna instance", async () => {
  const chip = { serialNumber: "0123a1b2c3d4e5f6ee", address: "10.0.0.5:8081", target: "dns:///lokey-controller:8081", origin: "atecc608a", healthy: true, samplesSeeded: 64n, lastError: "" };
  g.engine.upstreams = {
    chips: [
      { ...chip, connected: true, samplesDelivered: 1234n },
      { ...chip, serialNumber: "0123000000000002ee", address: "10.0.0.6:8081", connected: false, healthy: false, samplesDelivered: 5n, lastError: "no longer among the addresses of dns:///lokey-controller:8081" },
    ],
    fortunaInstances: [{ address: "10.0.1.7:8082", target: "dns:///lokey-fortuna:8082", connected: true, seeded: true, lastError: "" }],
  };
  try {
    const body = JSON.parse((await get("/api/v1/status")).text) as { chips: Record<string, unknown>[]; fortuna_instances: Record<string, unknown>[] };
    assert.deepEqual(body.chips[0], {
      serial_number: "0123a1b2c3d4e5f6ee", address: "10.0.0.5:8081", target: "dns:///lokey-controller:8081", origin: "atecc608a",
      connected: true, healthy: true, samples_delivered: 1234, samples_seeded: 64, last_error: "",
    });
    assert.deepEqual([body.chips[1].serial_number, body.chips[1].connected, body.chips[1].last_error], ["0123000000000002ee", false, "no longer among the addresses of dns:///lokey-controller:8081"]);
    assert.deepEqual(body.fortuna_instances, [{ address: "10.0.1.7:8082", target: "dns:///lokey-fortuna:8082", connected: true, seeded: true, last_error: "" }]);
  } finally {
    g.engine.upstreams = { chips: [], fortunaInstances: [] };
  }
});

describe("queue configuration", () => {
  test("GET, PUT (partial), GET", async () => {
    assert.equal((await get("/api/v1/config/queue")).text, '{"trng_queue_size":1000,"fortuna_queue_size":1000}');
    const p = await put(g.base, "/api/v1/config/queue", { trng_queue_size: 5000, fortuna_queue_size: 20000 });
    assert.equal(p.status, 200);
    assert.equal(p.text, '{"trng_queue_size":5000,"fortuna_queue_size":20000}');
    const p2 = await put(g.base, "/api/v1/config/queue", { trng_queue_size: 1000000 });
    assert.equal(p2.text, '{"trng_queue_size":1000000,"fortuna_queue_size":20000}');
    assert.equal((await get("/api/v1/config/queue")).text, '{"trng_queue_size":1000000,"fortuna_queue_size":20000}');
    assert.deepEqual(g.engine.getQueueConfig(), { trng: 1000000, fortuna: 20000 });
  });

  test("a failure to apply is the documented 500", async () => {
    const before = g.engine.getQueueConfig();
    g.engine.failNextQueueConfig = true;
    const p = await put(g.base, "/api/v1/config/queue", { trng_queue_size: 70 });
    assert.equal(p.status, 500);
    assert.equal(p.text, '{"error":"Failed to update queue configuration"}');
    assert.deepEqual(g.engine.getQueueConfig(), before);
  });
});

test("GET /api/v1/config/consume", async () => {
  assert.equal((await get("/api/v1/config/consume")).text, '{"consume":true}');
});

describe("metrics", () => {
  for (const path of ["/metrics", "/api/v1/metrics"]) {
    test(`${path}: Prometheus text with the documented gauges, current when scraped`, async () => {
      g.engine.queues.fortuna.bytes = Buffer.alloc(0);
      g.engine.feed("fortuna", randomBytes(32 * 3));
      const r = await get(path);
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      for (const name of [
        "trng_queue_current", "trng_queue_capacity", "trng_queue_percentage", "trng_consumed", "trng_unconsumed",
        "fortuna_queue_current", "fortuna_queue_capacity", "fortuna_queue_percentage", "fortuna_consumed", "fortuna_unconsumed",
        "database_size_bytes",
      ]) {
        assert.match(r.text, new RegExp(`^# TYPE ${name} gauge$`, "m"), name);
      }
      assert.match(r.text, /^fortuna_queue_current 3$/m);
      g.engine.feed("fortuna", randomBytes(32));
      assert.match((await get(path)).text, /^fortuna_queue_current 4$/m);
    });
  }
});

describe("CORS", () => {
  test("OPTIONS preflight answers 204 with the documented headers", async () => {
    const res = await fetch(g.base + "/api/v1/data", { method: "OPTIONS", headers: { Origin: "http://example.com", "Access-Control-Request-Method": "POST" } });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    for (const m of ["GET", "POST", "PUT", "DELETE", "OPTIONS"]) assert.match(res.headers.get("access-control-allow-methods")!, new RegExp(m));
    for (const h of ["Content-Type", "Authorization", "Accept"]) assert.match(res.headers.get("access-control-allow-headers")!, new RegExp(h));
  });

  test("ordinary answers, errors included, carry Access-Control-Allow-Origin", async () => {
    assert.equal((await get("/api/v1/health")).headers.get("access-control-allow-origin"), "*");
    const res = await fetch(g.base + "/api/v1/data", { method: "POST", body: "{" });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
  });
});

describe("GET /api/v1/stream", () => {
  test("streams chunked bytes up to max_bytes, consuming exactly those", async () => {
    g.engine.queues.trng.bytes = Buffer.alloc(0);
    const bytes = randomBytes(10000);
    g.engine.feed("trng", bytes);
    const res = await fetch(`${g.base}/api/v1/stream?source=trng&max_bytes=2500&chunk_size=1000`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.equal(res.headers.get("transfer-encoding"), "chunked");
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes.subarray(0, 2500));
    assert.equal(g.engine.available("trng"), 7500);
  });

  test("waits for data, and stops consuming when the client goes away", async () => {
    g.engine.queues.fortuna.bytes = Buffer.alloc(0);
    const got: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const req = request(`${g.base}/api/v1/stream?source=fortuna&chunk_size=16`, (res) => {
        res.on("data", (c: Buffer) => {
          got.push(c);
          // One chunk is enough: hang up.
          req.destroy();
          resolve();
        });
        res.on("error", () => {});
      });
      req.on("error", () => {});
      req.end();
      setTimeout(() => g.engine.feed("fortuna", Buffer.alloc(16, 9)), 50);
      req.on("close", () => resolve());
      void reject;
    });
    await done;
    assert.deepEqual(Buffer.concat(got), Buffer.alloc(16, 9));
    // The server's stream ends with the connection (no take left pending),
    // so data arriving afterwards stays queued.
    await g.engine.streamsStopped();
    g.engine.feed("fortuna", Buffer.alloc(64, 1));
    await new Promise((r) => setImmediate(r));
    assert.equal(g.engine.available("fortuna"), 64);
  });
});

describe("unknown routes and methods", () => {
  test("404 and 405 are JSON errors", async () => {
    const nf = await get("/api/v1/nope");
    assert.equal(nf.status, 404);
    assert.equal(typeof JSON.parse(nf.text).error, "string");
    const na = await fetch(g.base + "/api/v1/data");
    assert.equal(na.status, 405);
    assert.equal(typeof ((await na.json()) as { error: unknown }).error, "string");
  });
});

describe("Swagger UI", () => {
  test("/swagger/ serves the page and its assets from the npm package, pointed at /openapi.json", async () => {
    const page = await get("/swagger/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /^text\/html/);
    for (const asset of [...page.text.matchAll(/(?:href|src)="\.?\/?([\w.-]+)"/g)].map((m) => m[1])) {
      const r = await get("/swagger/" + asset);
      assert.equal(r.status, 200, asset);
    }
    const init = await get("/swagger/swagger-initializer.js");
    assert.match(init.text, /url: "\/openapi\.json"/);
    assert.doesNotMatch(init.text, /petstore/);
    assert.equal((await get("/swagger/%2e%2e%2fpackage.json")).status, 404);
    const redirect = await fetch(g.base + "/swagger", { redirect: "manual" });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/swagger/");
  });
});
