// The controller's own metrics (docs/operations.md): what its health tests
// found on the raw chip output and whether it serves, read from the
// harvester and its health gate at scrape time, in the registry the runtime
// adds the request metrics to.
import { Gauge, type Registry } from "prom-client";
import { counterFrom, metricsRegistry } from "../../runtime/src/index.js";
import type { Harvester } from "./harvester.js";

/** Made before the harvester starts, so its counters count from zero. */
export function controllerMetrics(harvester: Harvester): Registry {
  const registry = metricsRegistry();
  const gate = harvester.gate;
  counterFrom(registry, {
    name: "lokey_health_test_failures_total",
    help: "Health test failures on the raw output: SP 800-90B 4.4 repetition count and adaptive proportion, the monobit test, the unlocked chip's fixed pattern",
    labelNames: ["test"],
    read: () => {
      const t = gate.snapshot();
      return [
        [{ test: "repetition_count" }, t.repetitionCountFailures],
        [{ test: "adaptive_proportion" }, t.adaptiveProportionFailures],
        [{ test: "monobit" }, t.monobitFailures],
        [{ test: "fixed_pattern" }, gate.otherFailures],
      ];
    },
  });
  const one = (name: string, help: string, read: () => number | bigint) => counterFrom(registry, { name, help, labelNames: [], read: () => [[{}, read()]] });
  one("lokey_health_startup_failures_total", "Failures (of any test) during start-up testing (SP 800-90B 4.3); each starts it over", () => gate.startupFailures);
  one("lokey_health_startup_tests_passed_total", "Start-up tests passed: at start, after a failure, after the device recovered", () => gate.snapshot().startupTestsPassed);
  one("lokey_samples_discarded_total", "Conditioned samples withheld because a test failed before they were released", () => gate.snapshot().samplesDiscarded);
  const gauge = (name: string, help: string, read: () => boolean) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read() ? 1 : 0);
      },
    });
  gauge("lokey_health_tests_passing", "1 while start-up testing has passed and no test has failed since", () => gate.passing);
  gauge("lokey_entropy_serving", "1 while samples are served (device answering, tests passing, not blocked)", () => harvester.status().serving);
  return registry;
}
