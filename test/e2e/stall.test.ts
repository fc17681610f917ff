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
import { performance } from "node:perf_hooks";
import { startServices, type Services } from "../../gateway/test/engine/service-processes.js";

const BOUND_MS = 60_000;

let services: Services | undefined;
after(async () => {
  if (services) process.kill(services.pids.fortuna, "SIGCONT");
  await services?.stop();
});

test("a stopped (SIGSTOP) Fortuna is seen as lost in /api/v1/health, and its return once it runs again", async () => {
  const s = (services = await startServices({}));
  const details = async () => {
    const res = await fetch(`${s.base}/api/v1/health`).catch(() => undefined);
    return res ? ((await res.json()) as { status: string; details: { fortuna: boolean; controller: boolean } }) : undefined;
  };
  /** Milliseconds until `probe` holds (bounded). */
  const timeUntil = async (what: string, probe: () => Promise<boolean>) => {
    const t0 = performance.now();
    await s.until(what, probe, BOUND_MS);
    return performance.now() - t0;
  };
  await timeUntil("the stack healthy", async () => (await details())?.status === "healthy");

  process.kill(s.pids.fortuna, "SIGSTOP");
  const lost = await timeUntil("the stalled Fortuna seen as lost", async () => (await details())?.details.fortuna === false);
  const h = await details();
  assert.equal(h?.status, "degraded", "a lost Fortuna degrades the gateway, it does not stop it");
  assert.equal(h?.details.controller, true, "the controller is unaffected");

  process.kill(s.pids.fortuna, "SIGCONT");
  const back = await timeUntil("Fortuna seen again", async () => (await details())?.details.fortuna === true);
  console.log(`stalled Fortuna seen lost after ${Math.round(lost)} ms, back after ${Math.round(back)} ms (target 5000 / 3000)`);
});
