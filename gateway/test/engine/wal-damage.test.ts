// A write-ahead log damaged while the gateway is stopped (cut in half, or its
// tail garbled: what an SD card that lies about flushes leaves) must never
// bring back bytes served before it stopped (issue 13; served-mark.ts). Real
// RocksDB on disk, the real engine behind the REST API, fake upstreams that
// stream random bytes; every response of both runs is checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openSync, readFileSync, readdirSync, statSync, truncateSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, createLogger, silentLogger } from "../../../runtime/src/index.js";
import { openGatewayEngine } from "../../src/engine/engine.js";
import { post, startGateway } from "../api/harness.js";
import { Windows, WINDOW } from "./disk-scan.js";
import { FakeController, FakeFortuna, testConfig, until } from "./fakes.js";
import { tempDir, TEST_KEY } from "./helpers.js";

const FORTUNA_ITEMS = 3000;
const ITEM = 64;

interface Counts {
  consumed_count: number;
  queue_current: number;
  queue_dropped: number;
  total_generated: number;
}
type Status = Record<"trng" | "fortuna", Counts>;

async function status(base: string): Promise<Status> {
  return (await (await fetch(base + "/api/v1/status")).json()) as Status;
}

/** Takes `bytes` at a time from `source` until the queue answers 404; returns every body served. */
async function drain(base: string, source: string, bytes: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (;;) {
    const r = await post(base, "/api/v1/data", { format: "binary", limit: bytes, source });
    if (r.status === 404) return out;
    assert.equal(r.status, 200, `take from ${source}: ${Buffer.from(r.bytes).toString()}`);
    out.push(r.bytes);
  }
}

/**
 * First run: both queues filled from the fakes, the upstreams stopped (so the
 * log ends with the takes), then consuming takes through REST, Fortuna first
 * and TRNG last, and a clean stop. Returns what was served and the counters.
 */
async function serveAndStop(dbPath: string): Promise<{ served: Uint8Array[]; before: Status }> {
  const controller = await new FakeController().start();
  const fortuna = await new FakeFortuna().start();
  fortuna.randomChunks = true;
  const cfg = testConfig(dbPath, controller.addr, [fortuna.addr], { trngQueueSize: 64, fortunaQueueSize: FORTUNA_ITEMS, fortunaItemBytes: ITEM, queueKey: TEST_KEY });
  const g = await startGateway(await openGatewayEngine(cfg, createLogger("gateway", { level: "silent" })));
  const served: Uint8Array[] = [];
  try {
    await until("both queues filled", async () => {
      const s = await status(g.base);
      return s.fortuna.queue_current === FORTUNA_ITEMS && s.trng.queue_current >= 40;
    }, 60_000);
    await Promise.all([controller.server.close(), fortuna.server.close()]);
    for (let i = 0; i < 10; i++) served.push((await post(g.base, "/api/v1/data", { format: "binary", limit: 100 * ITEM, source: "fortuna" })).bytes);
    for (let i = 0; i < 20; i++) served.push((await post(g.base, "/api/v1/data", { format: "binary", limit: 32, source: "trng" })).bytes);
    assert.ok(served.every((b) => b.length > 0 && b.length % 32 === 0), "every take of the first run answered in full");
    return { served, before: await status(g.base) };
  } finally {
    await g.close();
  }
}

/** Second run, with no upstream at all: drains both queues and returns every body, the counters, and what was logged. */
async function restartAndDrain(dbPath: string): Promise<{ bodies: Uint8Array[]; after: Status; lines: string[] }> {
  const lines: string[] = [];
  const log = createLogger("gateway", { write: (l) => lines.push(l) });
  // Nothing listens on port 1: what is served comes from the database alone.
  const cfg = testConfig(dbPath, "127.0.0.1:1", ["127.0.0.1:1"], { trngQueueSize: 64, fortunaQueueSize: FORTUNA_ITEMS, fortunaItemBytes: ITEM, queueKey: TEST_KEY });
  const g = await startGateway(await openGatewayEngine(cfg, log));
  try {
    const after = await status(g.base);
    const bodies = [...(await drain(g.base, "fortuna", 10 * ITEM)), ...(await drain(g.base, "fortuna", ITEM)), ...(await drain(g.base, "trng", 32))];
    return { bodies, after, lines };
  } finally {
    await g.close();
  }
}

/** Every aligned 16-byte block of the first run's bodies: none may appear anywhere in a later body. */
function assertNothingServedTwice(served: Uint8Array[], bodies: Uint8Array[]): void {
  const later = new Windows();
  for (const b of bodies) later.add(b);
  let blocks = 0;
  for (const b of served) {
    for (let i = 0; i + WINDOW <= b.length; i += WINDOW, blocks++) {
      assert.ok(!later.has(b.subarray(i, i + WINDOW)), `a block served before the stop (offset ${i} of a ${b.length}-byte response) was served again`);
    }
  }
  assert.ok(blocks > 4000, `${blocks} blocks checked`);
}

function assertCountersKept(before: Status, after: Status): void {
  for (const s of ["trng", "fortuna"] as const) {
    const a = after[s];
    assert.ok(a.consumed_count >= before[s].consumed_count, `${s}: consumed_count went back from ${before[s].consumed_count} to ${a.consumed_count}`);
    assert.equal(a.total_generated, a.queue_current + a.consumed_count + a.queue_dropped, `${s}: total = current + consumed + dropped`);
  }
}

const wals = (dbPath: string) => readdirSync(dbPath).filter((f) => f.endsWith(".log")).map((f) => join(dbPath, f));

/** Overwrites 8 bytes of `path` at `at`. */
function garble(path: string, at: number): void {
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.alloc(8, 0xa7), 0, 8, at);
  closeSync(fd);
}

/** Serves, stops, `damage`s the stopped database, restarts and drains it: nothing served before may come back. */
async function damagedRestart(tag: string, damage: (dbPath: string) => void, said: RegExp): Promise<void> {
  const dir = tempDir(tag);
  const dbPath = join(dir.path, "db");
  try {
    const { served, before } = await serveAndStop(dbPath);
    damage(dbPath);
    const { bodies, after, lines } = await restartAndDrain(dbPath);
    assert.ok(lines.some((l) => said.test(l)), `the restart says the database lost synced writes (${said})`);
    assertNothingServedTwice(served, bodies);
    assertCountersKept(before, after);
  } finally {
    dir.remove();
  }
}

test("a write-ahead log cut in half while stopped: nothing served before is served again", { timeout: 180_000 }, () =>
  damagedRestart(
    "wal-cut",
    (dbPath) => {
      const logs = wals(dbPath).filter((p) => statSync(p).size > 0);
      assert.ok(logs.length > 0, "the stopped database has a log to damage");
      for (const p of logs) truncateSync(p, Math.floor(statSync(p).size / 2));
    },
    /lacks \d+ synced writes the served mark recorded/,
  ),
);

test("a write-ahead log whose tail is garbled while stopped: nothing served before is served again", { timeout: 180_000 }, () =>
  damagedRestart(
    "wal-garble",
    (dbPath) => {
      // 8 bytes in the last TRNG take's record (the last write holding its
      // consumed counter, keys.ts), near the end: RocksDB replays up to it.
      const marker = Buffer.from("c/trng/consumed");
      const hit = wals(dbPath)
        .map((p) => ({ p, at: readFileSync(p).lastIndexOf(marker) }))
        .filter((w) => w.at >= 8);
      assert.equal(hit.length, 1, "one log holds the last TRNG take");
      const { p, at } = hit[0];
      assert.ok(statSync(p).size - at < 4096, "the garbled bytes are near the log's end");
      garble(p, at - 8);
    },
    /lacks .*the served mark recorded/,
  ),
);

test("a served mark that fails its checksum: one copy is enough to start, neither stops the start naming the file", { timeout: 60_000 }, async () => {
  const dir = tempDir("mark-damage");
  const dbPath = join(dir.path, "db");
  const cfg = testConfig(dbPath, "127.0.0.1:1", ["127.0.0.1:1"], { queueKey: TEST_KEY });
  const mark = join(dbPath, "lokey-served-mark");
  try {
    await (await openGatewayEngine(cfg, silentLogger)).close();
    // The file holds two copies (4 KiB slots): a torn update damages one, the other still vouches.
    garble(mark, 100);
    await (await openGatewayEngine(cfg, silentLogger)).close();
    garble(mark, 100);
    garble(mark, 4096 + 100);
    await assert.rejects(openGatewayEngine(cfg, silentLogger), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.variable, "DB_PATH");
      assert.match(err.message, /lokey-served-mark holds no valid record/);
      return true;
    });
  } finally {
    dir.remove();
  }
});
