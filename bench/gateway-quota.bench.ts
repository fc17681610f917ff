// What per-client quotas cost the gateway on small requests: POST /api/v1/data
// (uint8, 32 values, fortuna) against the in-memory engine, with quotas
// counting the caller (loopback not exempt, limits far above what the run
// uses, so nothing is refused) beside the same gateway with quotas off,
// measured in the same run with their requests interleaved; each figure is
// the median of its rounds. The check alone is also timed in-process, beside
// a request's time.
import { Agent, request } from "node:http";
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { GatewayService } from "../gen/lokey/v1/gateway_pb.js";
import { peerKey } from "../runtime/src/peer.js";
import { silentLogger, startServer } from "../runtime/src/index.js";
import { gatewaySetup } from "../gateway/src/app.js";
import { ApiKeys } from "../gateway/src/quota/api-keys.js";
import type { Limits } from "../gateway/src/quota/limits.js";
import { Quotas } from "../gateway/src/quota/quotas.js";
import { FakeEngine } from "../gateway/test/api/fake-engine.js";
import type { BenchRow } from "./types.js";

const ROUND_MS = 500;
const ROUNDS = 11;
const CHECKS = 200_000;
const BODY = JSON.stringify({ format: "uint8", limit: 32, source: "fortuna" });
const API_KEY = "bench-key-0123456789abcdef";

// Far above a run's use: every request is checked and charged, none refused.
const HIGH = { perMinute: 1e12, burst: 1e12 };
const LIMITS: Limits = { trng: { requests: HIGH, bytes: HIGH }, fortuna: { requests: HIGH, bytes: HIGH } };

/** One keep-alive client of one gateway: posts BODY, resolves the status. */
function client(port: number, concurrency: number, headers: Record<string, string>) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const post = () =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port, path: "/api/v1/data", method: "POST", agent, headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(BODY), ...headers } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(BODY);
    });
  return { post, close: () => agent.destroy() };
}

/**
 * `concurrency` workers for `ms`, each alternating one request to `a` and one
 * to `b`, so both are measured at the same instants and drift in the
 * machine's speed (this one is shared) lands on both alike. Each gateway's
 * figure is the closed-loop throughput its latencies give: concurrency /
 * mean latency. Non-200 answers are counted apart.
 */
async function interleaved(a: number, b: number, concurrency: number, ms: number, headers: Record<string, string>) {
  const clients = [client(a, concurrency, headers), client(b, concurrency, headers)];
  const nanos = [0, 0];
  const counts = [0, 0];
  let refused = 0;
  for (let i = 0; i < concurrency * 4; i++) for (const c of clients) await c.post(); // warm-up, connections open
  const deadline = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let turn = worker % 2; process.hrtime.bigint() < deadline; turn ^= 1) {
        const t0 = process.hrtime.bigint();
        const status = await clients[turn].post();
        nanos[turn] += Number(process.hrtime.bigint() - t0);
        counts[turn]++;
        if (status !== 200) refused++;
      }
    }),
  );
  for (const c of clients) c.close();
  const rps = (i: number) => concurrency / (nanos[i] / counts[i] / 1e9);
  return { a: rps(0), b: rps(1), refused };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function gateway(quotas?: Quotas) {
  const engine = new FakeEngine();
  engine.endless.add("fortuna");
  return startServer({ ...gatewaySetup(engine, { quotas }), name: "gateway-quota", port: 0, host: "127.0.0.1", log: silentLogger });
}

/** Microseconds one admit() takes for a non-exempt caller, beside a request's time on the gateway with quotas off. */
function checkCost(label: string, headers: Record<string, string>, offRps: number): BenchRow {
  const quotas = new Quotas({ limits: LIMITS, exemptLoopback: false, keys: ApiKeys.parse(`bench:${API_KEY}\n`, LIMITS) });
  const ctx = createHandlerContext({
    service: GatewayService,
    method: GatewayService.method.getData,
    protocolName: "rest",
    requestMethod: "POST",
    url: "http://127.0.0.1/api/v1/data",
    requestHeader: new Headers({ "content-type": "application/json", ...headers }),
    contextValues: createContextValues().set(peerKey, { address: "203.0.113.7", loopback: false, certificate: "none" }),
  });
  for (let i = 0; i < 1000; i++) quotas.admit(ctx, "fortuna", 32);
  const start = process.hrtime.bigint();
  for (let i = 0; i < CHECKS; i++) quotas.admit(ctx, "fortuna", 32);
  const us = Number(process.hrtime.bigint() - start) / 1e3 / CHECKS;
  return { name: `Quotas.admit, one check ${label} (in-process)`, value: us, unit: "us", baselineName: "one request, quotas off, c=1", baseline: 1e6 / offRps, lowerIsBetter: true };
}

export default async function (): Promise<BenchRow[]> {
  const off = await gateway();
  const on = await gateway(new Quotas({ limits: LIMITS, exemptLoopback: false, keys: ApiKeys.parse(`bench:${API_KEY}\n`, LIMITS) }));
  const rows: BenchRow[] = [];
  try {
    const cases: { label: string; concurrency: number; headers: Record<string, string> }[] = [
      { label: "by address", concurrency: 1, headers: {} },
      { label: "by address", concurrency: 8, headers: {} },
      { label: "by X-API-Key", concurrency: 8, headers: { "X-API-Key": API_KEY } },
    ];
    for (const c of cases) {
      const offRps: number[] = [];
      const onRps: number[] = [];
      let refused = 0;
      for (let i = 0; i < ROUNDS; i++) {
        // The same headers go to both, so only the quota check differs.
        const r = await interleaved(off.port, on.port, c.concurrency, ROUND_MS, c.headers);
        offRps.push(r.a);
        onRps.push(r.b);
        refused += r.refused;
      }
      if (refused > 0) process.stderr.write(`quota ${c.label} c=${c.concurrency}: ${refused} refused (the limits were meant to admit all)\n`);
      rows.push({
        name: `POST /api/v1/data fortuna uint8 32 c=${c.concurrency}, quotas on (${c.label}), in-memory engine`,
        value: median(onRps),
        unit: "req/s",
        baselineName: "same gateway, quotas off",
        baseline: median(offRps),
        target: 0.95,
      });
    }
    rows.push(checkCost("by address", {}, rows[0].baseline));
    rows.push(checkCost("by X-API-Key", { "X-API-Key": API_KEY }, rows[0].baseline));
  } finally {
    await on.close();
    await off.close();
  }
  return rows;
}
