// The engine against the real controller (ATECC608A emulator) and Fortuna
// services, each started as its own process from its main.ts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FortunaService } from "../../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient, silentLogger } from "../../../runtime/src/index.js";
import { openGatewayEngine } from "../../src/engine/engine.js";
import type { GatewayEngine } from "../../src/engine/types.js";
import { testConfig, until } from "./fakes.js";
import { tempDir } from "./helpers.js";
import { freePort } from "../../../runtime/test/net.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const children: ChildProcess[] = [];
const dir = tempDir("integration");
let engine: GatewayEngine;
let fortunaAddr: string;


async function startService(main: string, env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const p = spawn(process.execPath, ["--import", "tsx", join(root, main)], {
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(p);
  return `127.0.0.1:${port}`;
}

before(async () => {
  const controllerAddr = await startService("controller/src/main.ts", { TRNG_DEVICE: "emulator" });
  fortunaAddr = await startService("fortuna/src/main.ts", {});
  engine = await openGatewayEngine(
    testConfig(join(dir.path, "db"), controllerAddr, [fortunaAddr], { trngQueueSize: 20, fortunaQueueSize: 50, fortunaItemBytes: 1024, upstreamTimeoutMs: 5000 }),
    silentLogger,
  );
});

after(async () => {
  await engine?.close();
  for (const c of children) c.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
  dir.remove();
});

test("with the real controller and Fortuna: seeding at start, queues fill, data is served, counters add up", { timeout: 90_000 }, async () => {
  await until("Fortuna seeded by the gateway", () => engine.health().seeded, 60_000);
  const fortuna = createGrpcClient(FortunaService, fortunaAddr);
  try {
    const info = await fortuna.getInfo({});
    assert.equal(info.seeded, true);
    assert.ok(info.reseedCount >= 1n);
  } finally {
    fortuna.close();
  }
  await until("queues full", async () => {
    const s = await engine.status();
    return s.trng.queueCurrent === 20 && s.fortuna.queueCurrent === 50;
  }, 60_000);
  const before = await engine.status();
  assert.equal(before.trng.origin, "emulator");
  assert.ok(before.trng.connected && before.fortuna.connected);
  assert.deepEqual(engine.health(), { controller: true, fortuna: true, database: true, seeded: true });

  const trng = await engine.take("trng", 96, 0);
  const fortunaBytes = await engine.take("fortuna", 4096, 0);
  assert.equal(trng!.length, 96);
  assert.equal(fortunaBytes!.length, 4096);
  // Beyond the queue: the rest comes straight from Fortuna.
  const big = await engine.take("fortuna", 200 * 1024, 0, AbortSignal.timeout(20_000));
  assert.equal(big!.length, 200 * 1024);

  const after = await engine.status();
  for (const q of [after.trng, after.fortuna]) {
    assert.equal(q.totalGenerated, BigInt(q.queueCurrent) + q.consumedCount + q.queueDropped, "total = queued + consumed + dropped");
  }
  assert.ok(after.trng.consumedCount >= before.trng.consumedCount + 3n);
  assert.ok(after.fortuna.consumedCount > before.fortuna.consumedCount + 4n);
  assert.ok(after.fortuna.pollingCount > before.fortuna.pollingCount);
});
