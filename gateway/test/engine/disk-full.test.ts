// The database's disk fills up (issue 13): the gateway must stop pulling from
// its upstreams, say NOT_SERVING and why, answer 503 {"error": ...} instead
// of a 500, log once per state change instead of once per failure, and carry
// on by itself once space returns (storage-fault.ts). On a real, small tmpfs
// with real RocksDB; mounting one needs root or CAP_SYS_ADMIN, so without
// them the test is skipped (`unshare -rm npm run test:unit -- disk-full` gives
// it a mount namespace of its own).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../../gen/grpc/health/v1/health_pb.js";
import { GatewayService } from "../../../gen/lokey/v1/gateway_pb.js";
import { createGrpcClient, createLogger } from "../../../runtime/src/index.js";
import { openGatewayEngine } from "../../src/engine/engine.js";
import { post, startGateway, text } from "../api/harness.js";
import { FakeController, FakeFortuna, settled, testConfig, until } from "./fakes.js";
import { tempDir, TEST_KEY } from "./helpers.js";

const MIB = 1024 * 1024;

/** Mounts a tmpfs of `mib` MiB at `dir`; undefined when that is not allowed here, with why. */
function mountTmpfs(dir: string, mib: number): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    return `mounting a tmpfs needs root or CAP_SYS_ADMIN (run under \`unshare -rm\` for a private mount namespace): ${why}`;
  }
}

interface Line {
  level: string;
  msg: string;
  reason?: string;
}

test("disk full: 503 and NOT_SERVING with the reason, the feeds wait, a few log lines, and recovery once space returns", { timeout: 180_000 }, async (t) => {
  const dir = tempDir("disk-full");
  const mnt = join(dir.path, "mnt");
  mkdirSync(mnt);
  const refused = mountTmpfs(mnt, 24);
  if (refused) {
    dir.remove();
    t.skip(refused);
    return;
  }
  const lines: Line[] = [];
  const log = createLogger("gateway", { level: "info", write: (l) => lines.push(JSON.parse(l) as Line) });
  const controller = await new FakeController().start();
  const fortuna = await new FakeFortuna().start();
  try {
    // The filler leaves ~6 MiB: less than a full Fortuna queue (100,000 x 64 B, and RocksDB's log holds more).
    const filler = join(mnt, "filler");
    writeFileSync(filler, Buffer.alloc(18 * MIB, 1));
    const cfg = testConfig(join(mnt, "db"), controller.addr, [fortuna.addr], { trngQueueSize: 64, fortunaQueueSize: 100_000, queueKey: TEST_KEY });
    const engine = await openGatewayEngine(cfg, log, { storageRetry: { minMs: 50, maxMs: 400 } });
    const g = await startGateway(engine, { healthIntervalMs: 20 });
    const health = createGrpcClient(Health, g.address);
    try {
      const healthJson = async () => (await (await fetch(g.base + "/api/v1/health")).json()) as { status: string; storage_fault: string; details: { database: boolean } };
      await until("the disk is full", async () => (await healthJson()).storage_fault !== "", 60_000);

      // Served nothing, and said why: 503 with the documented error shape, over every route that takes.
      const h = await healthJson();
      assert.equal(h.status, "unhealthy");
      assert.equal(h.details.database, false);
      assert.match(h.storage_fault, /no space left/);
      for (const source of ["fortuna", "trng"]) {
        const r = await post(g.base, "/api/v1/data", { format: "uint8", limit: 8, source });
        assert.equal(r.status, 503, `${source}: ${text(r.bytes)}`);
        const body = JSON.parse(text(r.bytes)) as Record<string, string>;
        assert.deepEqual(Object.keys(body), ["error"]);
        assert.match(body.error, /no space left on the database's disk/);
      }
      const s = (await (await fetch(g.base + "/api/v1/status")).json()) as { database: { storage_fault: string } };
      assert.match(s.database.storage_fault, /no space left/);
      await until("gRPC health NOT_SERVING", async () => (await health.check({ service: GatewayService.typeName })).status === Serving.NOT_SERVING);
      assert.equal((await health.check({ service: "" })).status, Serving.NOT_SERVING);

      // The feeds stop reading: the upstream's stream stops (HTTP/2 flow control), and nothing is logged per attempt.
      const chunks = await settled(() => fortuna.chunks, 10, 100);
      for (let i = 0; i < 20; i++) assert.equal((await post(g.base, "/api/v1/data", { format: "binary", limit: 64, source: "fortuna" })).status, 503);
      assert.ok(fortuna.chunks - chunks <= 2, `Fortuna kept streaming during the fault: ${fortuna.chunks - chunks} more chunks`);
      const faultLines = lines.filter((l) => l.msg.startsWith("storage fault:"));
      assert.equal(faultLines.length, 1, "the fault is logged once");
      const loud = lines.slice(lines.indexOf(faultLines[0])).filter((l) => l.level === "error" || l.level === "warn");
      assert.ok(loud.length <= 2, `since the fault: a line or two, not one per failure: ${JSON.stringify(loud)}`);

      // Space returns: the gateway carries on by itself.
      rmSync(filler);
      await until("the fault clears", async () => (await healthJson()).storage_fault === "", 60_000);
      assert.equal(lines.filter((l) => l.msg.startsWith("storage fault over")).length, 1, "the recovery is logged once");
      await until("gRPC health SERVING", async () => (await health.check({ service: GatewayService.typeName })).status === Serving.SERVING);
      await until("Fortuna data served again", async () => (await post(g.base, "/api/v1/data", { format: "binary", limit: 64, source: "fortuna" })).status === 200);
      // The queue may have filled up meanwhile: takes make room, and the feed reads its upstream again.
      await until("the feed reads its upstream again", async () => {
        assert.equal((await post(g.base, "/api/v1/data", { format: "binary", limit: 65536, source: "fortuna" })).status, 200);
        return fortuna.chunks > chunks + 2;
      });
    } finally {
      health.close();
      await g.close();
    }
  } finally {
    await Promise.all([controller.server.close(), fortuna.server.close()]);
    execFileSync("umount", [mnt]);
    dir.remove();
  }
});
