// The API over the real RocksDB engine (temp DB_PATH): a counting fake Fortuna
// upstream and no controller at all. Settings must survive a restart, reads
// must delete what they serve, and a missing upstream is a 404, not a 5xx.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EnvReader, silentLogger } from "../../../runtime/src/index.js";
import { openGatewayEngine, readGatewayEngineConfig } from "../../src/engine/engine.js";
import type { GatewayEngine } from "../../src/engine/types.js";
import { startFakeFortuna } from "./fake-fortuna.js";
import { post, put, startGateway, text, type Gateway } from "./harness.js";

let dir: string;
let fortuna: Awaited<ReturnType<typeof startFakeFortuna>>;

// Nothing listens on port 1: the controller is absent throughout.
const engineEnv = (fortunaAddr: string) =>
  new EnvReader({ DB_PATH: dir, CONTROLLER_ADDR: "127.0.0.1:1", FORTUNA_ADDR: fortunaAddr, UPSTREAM_TIMEOUT_MS: "2000", FORTUNA_ITEM_BYTES: "256" });

async function open(fortunaAddr = fortuna.address): Promise<Gateway<GatewayEngine>> {
  const engine = await openGatewayEngine(readGatewayEngineConfig(engineEnv(fortunaAddr)), silentLogger);
  return startGateway(engine);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "lokey-gateway-api-"));
  fortuna = await startFakeFortuna();
});
after(async () => {
  await fortuna.server.close();
  await rm(dir, { recursive: true, force: true });
});

const words = (b: Uint8Array) => Array.from({ length: b.length / 4 }, (_, i) => Buffer.from(b).readUInt32BE(i * 4));

describe("over the real engine", () => {
  let g: Gateway<GatewayEngine>;
  before(async () => {
    g = await open();
  });
  after(() => g.close());

  test("fortuna data: exact values, never the same bytes twice", async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const r = await post(g.base, "/api/v1/data", { format: "binary", limit: 4000, source: "fortuna" });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-disposition"), "attachment; filename=random.bin");
      for (const w of words(r.bytes)) {
        assert.ok(!seen.has(w), `word ${w} served twice`);
        seen.add(w);
      }
    }
    const u = await post(g.base, "/api/v1/data", { format: "uint32", limit: 100, source: "fortuna" });
    const values = JSON.parse(text(u.bytes)) as number[];
    assert.equal(values.length, 100);
    for (const v of values) assert.ok(!seen.has(v), `value ${v} served twice`);
  });

  test("trng without a controller: 404 No data available, never 5xx", async () => {
    const r = await post(g.base, "/api/v1/data", { format: "uint8", limit: 1, source: "trng" });
    assert.equal(r.status, 404);
    assert.equal(text(r.bytes), '{"error":"No data available"}');
  });

  test("health says degraded (controller down), status and metrics answer", async () => {
    const h = (await (await fetch(g.base + "/api/v1/health")).json()) as { status: string; details: Record<string, boolean> };
    assert.equal(h.details.controller, false);
    assert.equal(h.details.database, true);
    assert.equal(h.status, "degraded");
    const s = (await (await fetch(g.base + "/api/v1/status")).json()) as Record<string, Record<string, unknown>>;
    assert.equal(typeof s.fortuna.queue_current, "number");
    assert.equal(typeof s.database.size_human, "string");
    const m = await fetch(g.base + "/metrics");
    assert.match(await m.text(), /^# TYPE fortuna_queue_current gauge$/m);
  });

  test("settings change", async () => {
    assert.equal((await put(g.base, "/api/v1/config/queue", { trng_queue_size: 77, fortuna_queue_size: 88 })).text, '{"trng_queue_size":77,"fortuna_queue_size":88}');
    assert.equal((await put(g.base, "/api/v1/config/consume", { consume: false })).text, '{"consume":false}');
  });
});

describe("after a restart on the same DB_PATH", () => {
  test("queue sizes and the consume switch survive", async () => {
    const g = await open();
    try {
      assert.equal(await (await fetch(g.base + "/api/v1/config/queue")).text(), '{"trng_queue_size":77,"fortuna_queue_size":88}');
      assert.equal(await (await fetch(g.base + "/api/v1/config/consume")).text(), '{"consume":false}');
    } finally {
      await g.close();
    }
  });

  test("with Fortuna gone too: data is 404, nothing is a 5xx", async () => {
    const g = await open("127.0.0.1:1");
    try {
      // More than the 88-item queue can hold: the shortfall would have to come from Fortuna.
      const r = await post(g.base, "/api/v1/data", { format: "binary", limit: 100000, source: "fortuna" });
      assert.equal(r.status, 404);
      assert.equal(text(r.bytes), '{"error":"No data available"}');
      const h = await fetch(g.base + "/api/v1/health");
      assert.equal(h.status, 200);
    } finally {
      await g.close();
    }
  });
});
