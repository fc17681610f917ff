// A stalled upstream (issue 14 item 2, issue 13 item 6): a Fortuna process
// that stops answering without closing anything (SIGSTOP: its sockets stay
// open, the kernel still ACKs, nothing reads or writes) is seen as lost in
// /api/v1/health, and seen again once it runs (SIGCONT). Only HTTP/2 keepalive
// or the health watch can notice this: no connection is ever closed. Real
// processes over real loopback gRPC. The bound is a liveness bound for a
// loaded machine, not the 5 s target (met by the client's HTTP/2 keepalive,
// runtime/src/grpc-client.ts: a ping every 2 s, 2.5 s to answer); the
// measured times are printed.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { freePort } from "../../runtime/test/net.js";

const BOUND_MS = 60_000;

const dir = mkdtempSync(join(tmpdir(), "lokey-stall-"));
const children: ChildProcess[] = [];
let output = "";
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) (c.kill("SIGCONT"), c.kill("SIGKILL"));
  rmSync(dir, { recursive: true, force: true });
});

function service(name: "controller" | "fortuna" | "gateway", env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", `${name}/src/main.ts`], {
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr!.on("data", (b) => (output = (output + `${name}: ${b}`).slice(-6000)));
  children.push(child);
  return child;
}

async function until(what: string, probe: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < BOUND_MS) {
    if (await probe()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${BOUND_MS} ms; output:\n${output}`);
}

test("a stopped (SIGSTOP) Fortuna is seen as lost in /api/v1/health, and its return once it runs again", async () => {
  const ports = { controller: await freePort(), fortuna: await freePort(), gateway: await freePort() };
  service("controller", { PORT: String(ports.controller) });
  const fortuna = service("fortuna", { PORT: String(ports.fortuna) });
  service("gateway", {
    PORT: String(ports.gateway),
    DB_PATH: join(dir, "db"),
    CONTROLLER_ADDR: `127.0.0.1:${ports.controller}`,
    FORTUNA_ADDR: `127.0.0.1:${ports.fortuna}`,
  });
  const details = async () => {
    const res = await fetch(`http://127.0.0.1:${ports.gateway}/api/v1/health`).catch(() => undefined);
    return res ? ((await res.json()) as { status: string; details: { fortuna: boolean; controller: boolean } }) : undefined;
  };
  await until("the stack healthy", async () => (await details())?.status === "healthy");

  fortuna.kill("SIGSTOP");
  const lost = await until("the stalled Fortuna seen as lost", async () => (await details())?.details.fortuna === false);
  const h = await details();
  assert.equal(h?.status, "degraded", "a lost Fortuna degrades the gateway, it does not stop it");
  assert.equal(h?.details.controller, true, "the controller is unaffected");

  fortuna.kill("SIGCONT");
  const back = await until("Fortuna seen again", async () => (await details())?.details.fortuna === true);
  console.log(`stalled Fortuna seen lost after ${Math.round(lost)} ms, back after ${Math.round(back)} ms (target 5000 / 3000)`);
});
