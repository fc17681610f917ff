// The gateway process: the RocksDB-backed engine fed by the controller and
// Fortuna, served as REST + Connect + gRPC + gRPC-Web on port 8080.
import { runService } from "../../runtime/src/index.js";
import { gatewaySetup } from "./app.js";
import { openGatewayEngine, readGatewayEngineConfig } from "./engine/engine.js";
import { Quotas, readQuotaConfig } from "./quota/quotas.js";

await runService("gateway", 8080, async ({ env, log }) => {
  // Every variable is read before anything opens, so a bad one fails fast.
  const cfg = readGatewayEngineConfig(env);
  const healthIntervalMs = env.int("HEALTH_INTERVAL_MS", 2000, { min: 100, max: 600_000 });
  const quotas = readQuotaConfig(env);
  log.info("quotas", { apiKeys: quotas.keys?.size ?? 0, exemptLoopback: quotas.exemptLoopback, limits: quotas.limits });
  const engine = await openGatewayEngine(cfg, log);
  return gatewaySetup(engine, { healthIntervalMs, quotas: new Quotas(quotas), log });
});
