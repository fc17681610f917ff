// Everything the gateway serves, over any GatewayEngine: main.ts runs it on
// the real engine, tests and benchmarks on a fake one.
import { HealthRegistry, type ServiceSetup } from "../../runtime/src/index.js";
import type { GatewayEngine } from "./engine/types.js";
import { dashboardRoutes } from "./dashboard.js";
import { keepHealthCurrent } from "./health.js";
import { openApiRoute } from "./openapi.js";
import { registerQuotaMetrics } from "./quota/quota-metrics.js";
import { createGatewayBinding, type GatewayBindingOptions } from "./service.js";
import { swaggerRoutes } from "./swagger.js";

export interface GatewayAppOptions extends GatewayBindingOptions {
  /** How often the gRPC health registry is refreshed from the engine (default 2 s). */
  healthIntervalMs?: number;
}

export function gatewaySetup(engine: GatewayEngine, opts: GatewayAppOptions = {}): ServiceSetup {
  const health = new HealthRegistry();
  const stopHealth = keepHealthCurrent(() => engine.health(), health, opts.healthIntervalMs ?? 2000);
  if (opts.quotas) registerQuotaMetrics(engine.metrics, opts.quotas);
  return {
    bindings: [createGatewayBinding(engine, opts)],
    health,
    // GetMetrics renders it; the runtime adds the request metrics.
    metrics: engine.metrics,
    cors: true,
    rawRoutes: [openApiRoute(), ...swaggerRoutes(), ...dashboardRoutes()],
    onClose: async () => {
      stopHealth();
      await engine.close();
    },
  };
}
