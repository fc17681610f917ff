// The status page at `/`, rendered by a real headless Chromium (Debian's
// chromium package): the DOM it builds from the gateway's own endpoints shows
// queue levels, the entropy source, upstream links (each chip and Fortuna
// instance), health and served bytes/s,
// with nothing fetched from anywhere else and nothing taken from a queue.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGateway, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";

// The flags the machine notes give for a closed network: no background traffic, no sandbox as root.
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];

/** Runs Chromium without blocking: the gateway it talks to lives in this process. */
async function chromium(args: string[]): Promise<{ dom?: string; skip?: string }> {
  const profile = mkdtempSync(join(tmpdir(), "lokey-chromium-"));
  try {
    // Virtual time runs the page's timers (three polls) without the test waiting on a clock.
    const child = spawn("chromium", [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "--virtual-time-budget=7000", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const result = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.once("error", (error) => resolve({ code: null, error }));
      child.once("close", (code) => resolve({ code }));
    });
    clearTimeout(timer);
    if (result.error) return { skip: `chromium is not installed (Debian package chromium): ${result.error.message}` };
    assert.equal(result.code, 0, stderr);
    return { dom: stdout };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

let g: Gateway<FakeEngine>;
before(async () => {
  g = await startGateway();
  g.engine.sizes = { trng: 1000, fortuna: 400 };
  g.engine.feed("trng", Buffer.alloc(32 * 250)); // 250 of 1000 items: 25%
  g.engine.feed("fortuna", Buffer.alloc(32 * 100));
  g.engine.healthState = { ...g.engine.healthState, fortuna: false };
  const chip = { target: "dns:///controller:8081", origin: "emulator", samplesSeeded: 0n, lastError: "" };
  g.engine.upstreams = {
    chips: [
      { ...chip, serialNumber: "0123aabbccddeeff01", address: "10.0.0.5:8081", connected: true, healthy: true, samplesDelivered: 1234n },
      { ...chip, serialNumber: "", address: "10.0.0.6:8081", connected: false, healthy: false, samplesDelivered: 0n, lastError: "connect ECONNREFUSED <10.0.0.6>" },
    ],
    fortunaInstances: [{ address: "10.0.0.7:8082", target: "fortuna:8082", connected: true, seeded: true, lastError: "" }],
  };
});
after(() => g.close());

test("the page renders queue levels, source, links, health and rates from the gateway's endpoints", async (t) => {
  const before = { trng: g.engine.available("trng"), fortuna: g.engine.available("fortuna") };
  const { dom, skip } = await chromium(["--dump-dom", `${g.base}/`]);
  if (skip) return t.skip(skip);
  assert.match(dom!, /<body data-ready="true">/, "the poll completed");
  const trng = /<section class="source" id="source-trng"[\s\S]*?<\/section>/.exec(dom!)?.[0] ?? "";
  assert.match(trng, /data-field="origin">emulator</);
  assert.match(trng, /data-field="queue">250 \/ 1000 \(25%\)</);
  assert.match(trng, /aria-valuenow="25"/);
  assert.match(trng, /data-field="connected" class="up">connected</);
  assert.match(trng, /data-field="rate">0 B\/s</, "a rate from two polls of gateway_bytes_served_total");
  assert.match(trng, /<polyline points="\d/, "a sparkline with points");
  // One dependency down: the badge says so and the detail is marked.
  assert.match(dom!, /id="health" class="badge" data-status="(degraded|unhealthy)"/);
  assert.match(dom!, /<li data-detail="fortuna"><span>fortuna<\/span><span class="down">down<\/span><\/li>/);
  // Each chip and Fortuna instance on a row of its own; an upstream's error is text, not markup.
  assert.match(dom!, /<tr data-chip="10.0.0.5:8081"><td>0123aabbccddeeff01<\/td><td>10.0.0.5:8081<\/td><td>emulator<\/td><td class="up">connected<\/td><td class="up">passing<\/td><td>1234<\/td><\/tr>/);
  assert.match(dom!, /<tr data-chip="10.0.0.6:8081"><td>–<\/td><td>10.0.0.6:8081<\/td><td>emulator<\/td><td class="down">disconnected<\/td><td class="down">failing<\/td><td>0<\/td><\/tr>/);
  assert.match(dom!, /<tr data-chip-error="10.0.0.6:8081"><td class="error" colspan="6">connect ECONNREFUSED &lt;10.0.0.6&gt;<\/td><\/tr>/);
  assert.match(dom!, /<tr data-fortuna="10.0.0.7:8082"><td>10.0.0.7:8082<\/td><td class="up">connected<\/td><td class="up">seeded<\/td><\/tr>/);
  assert.deepEqual({ trng: g.engine.available("trng"), fortuna: g.engine.available("fortuna") }, before, "the page consumed nothing");
});

test("the page's files come with a CSP that allows only themselves", async () => {
  for (const path of ["/", "/dashboard/dashboard.js", "/dashboard/dashboard.css"]) {
    const res = await fetch(g.base + path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'; script-src 'self'/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  }
  // The root is one page, not a prefix: other paths still reach their routes.
  assert.equal((await fetch(`${g.base}/api/v1/health`)).headers.get("content-type")?.startsWith("application/json"), true);
  assert.equal((await fetch(`${g.base}/nothing-here`)).status, 404);
});
