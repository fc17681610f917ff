// The controller process: ATECC608A (or its labelled fallback) on port 8081.
// Environment (see config.ts): TRNG_DEVICE=auto|i2c|emulator|os (auto),
// TRNG_REQUIRE_HARDWARE (false), FORCE_CONFIG (false), I2C_BUS_NUMBER (1),
// I2C_ADDRESS (0x60), I2C_CLOCK_HZ (100000), TRNG_POLL_INTERVAL_MS (0 = back-to-back),
// EMULATOR_SERIAL (the emulated chip's serial; random when unset).
import { ControllerService } from "../../gen/lokey/controller/v1/controller_pb.js";
import { HealthRegistry, runService } from "../../runtime/src/index.js";
import { readControllerConfig } from "./config.js";
import { Harvester } from "./harvester.js";
import { controllerMetrics } from "./metrics.js";
import { controllerBinding, trackHealth } from "./service.js";
import { openSource } from "./setup.js";

await runService("controller", 8081, async ({ env, log }) => {
  const cfg = readControllerConfig(env);
  const { source, blockedReason } = await openSource(cfg, log);
  const harvester = new Harvester(source, { log, minSpacingMs: cfg.pollIntervalMs, blockedReason });
  const health = new HealthRegistry();
  const untrack = trackHealth(harvester, health);
  const metrics = controllerMetrics(harvester);
  harvester.start();
  return {
    bindings: [controllerBinding({ harvester, health, i2cBus: cfg.i2cBus, i2cAddress: cfg.i2cAddress })],
    health,
    metrics,
    onClose: async () => {
      untrack();
      await harvester.stop();
      await source.close();
    },
  };
}, { defaultHost: "127.0.0.1", services: [ControllerService] }); // only the gateway calls upstreams (docs/security.md)
