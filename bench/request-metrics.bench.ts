// What counting a request costs (runtime/src/request-metrics.ts): the tracker
// every service runs on every request (counter, histogram, in-flight gauge,
// the outcome record) over a response object's open-to-close lifecycle,
// against that lifecycle alone; and the same with the access log on, its
// line written to nowhere. The figures are per request, in the same run;
// the server's own work per request (tens of microseconds) is not in either.
import { EventEmitter } from "node:events";
import { createLogger } from "../runtime/src/index.js";
import { metricsRegistry, requestTracker, type RequestTracker } from "../runtime/src/request-metrics.js";
import { noteRoute } from "../runtime/src/request-outcome.js";
import type { NodeRequest, NodeResponse } from "../runtime/src/rest-request.js";
import { opsPerSecond, type BenchRow } from "./types.js";

const BATCH = 10_000;
const ROUTES = ["GET /api/v1/status", "POST /api/v1/data", "/lokey.v1.GatewayService/GetData"];

/** A response as the tracker sees one: it closes finished, with a status. */
function response(): NodeResponse {
  return Object.assign(new EventEmitter(), { writableFinished: true, statusCode: 200, write: () => true, end: () => undefined }) as unknown as NodeResponse;
}
const req = { method: "GET", headers: {}, socket: {} } as unknown as NodeRequest;

/** As the server does it: one close listener per response, the tracker's end called from it. */
function lifecycles(track?: RequestTracker): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) {
      const res = response();
      const counted = track?.(req, res);
      res.once("close", () => counted?.());
      noteRoute(res, "rest", ROUTES[i % ROUTES.length]);
      res.emit("close");
    }
  };
}

export default async function (): Promise<BenchRow[]> {
  const log = createLogger("bench", { level: "info", write: () => undefined });
  const tracked = requestTracker({ registry: metricsRegistry(), log, accessLog: false, clientOf: () => "127.0.0.1" });
  const logged = requestTracker({ registry: metricsRegistry(), log, accessLog: true, clientOf: () => "127.0.0.1" });
  const bare = (await opsPerSecond(lifecycles())) * BATCH;
  const counted = (await opsPerSecond(lifecycles(tracked))) * BATCH;
  const withLog = (await opsPerSecond(lifecycles(logged))) * BATCH;
  const row = (name: string, value: number): BenchRow => ({ name, value, unit: "req/s", baselineName: "response open-to-close alone", baseline: bare });
  return [row("request metrics per request", counted), row("request metrics + access log per request", withLog)];
}
