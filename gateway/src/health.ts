// The documented health verdict (GET /api/v1/health) and the gRPC health
// registry, both derived from the engine's view of its dependencies.
// The database is the critical part: without it nothing can be served, and
// while it cannot be written (a storage fault: disk full) nothing is.
// A missing upstream only means its queue stops refilling, so the API still
// answers from what is queued: degraded, not unhealthy.
import { GatewayService } from "../../gen/lokey/v1/gateway_pb.js";
import type { HealthRegistry } from "../../runtime/src/index.js";
import type { EngineHealth } from "./engine/types.js";

export type HealthVerdict = "healthy" | "degraded" | "unhealthy";

export interface HealthReport {
  status: HealthVerdict;
  details: { api: boolean; controller: boolean; fortuna: boolean; database: boolean };
  /** Why the database cannot be written; empty while it can. */
  storageFault: string;
}

export function healthReport(h: EngineHealth): HealthReport {
  const database = h.database && h.storageFault === undefined;
  const details = { api: true, controller: h.controller, fortuna: h.fortuna, database };
  const status: HealthVerdict = !database ? "unhealthy" : h.controller && h.fortuna ? "healthy" : "degraded";
  return { status, details, storageFault: h.storageFault ?? "" };
}

/**
 * Keeps the gRPC health registry in step with the engine: the gateway
 * serves while its database works. Returns a function that stops polling.
 */
export function keepHealthCurrent(health: () => EngineHealth, registry: HealthRegistry, intervalMs: number): () => void {
  const update = () => {
    const state = healthReport(health()).status === "unhealthy" ? "NOT_SERVING" : "SERVING";
    registry.setAll(state, [GatewayService.typeName]);
  };
  update();
  const timer = setInterval(update, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
