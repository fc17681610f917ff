// Fortuna's health: unhealthy while unseeded, and when the last reseed is
// older than the configured bound (docs/reference/fortuna.md, "What the service adds").
// The registry is kept current without polling: a timer fires once at the
// moment the last reseed turns stale, so an idle service costs no CPU. The
// age is measured on the accumulator's monotonic clock: a wall-clock step
// would otherwise make a fresh seed look stale, or a stale one fresh.
import type { HealthRegistry } from "../../runtime/src/index.js";
import type { Accumulator } from "./accumulator.js";

export interface SeedHealthState {
  healthy: boolean;
  /** Why it is unhealthy; empty when healthy. */
  reason: string;
}

// setTimeout's longest delay (2^31 - 1 ms, Node timers): longer waits are chained.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SeedHealth {
  private timer: NodeJS.Timeout | undefined;
  /** The reseed the timer is armed for (its reseed count): each reseed moves the stale moment. */
  private timerFor: bigint | undefined;

  constructor(
    private readonly acc: Accumulator,
    private readonly registry: HealthRegistry,
    private readonly serviceNames: string[],
    private readonly maxSeedAgeMs: number,
  ) {}

  state(): SeedHealthState {
    const age = this.acc.msSinceReseed();
    if (!this.acc.seeded || age === undefined) return { healthy: false, reason: "Fortuna is not seeded yet" };
    if (age > this.maxSeedAgeMs) {
      return { healthy: false, reason: `last reseed ${Math.round(age / 1000)} s ago, older than the ${Math.round(this.maxSeedAgeMs / 1000)} s bound` };
    }
    return { healthy: true, reason: "" };
  }

  /** Recomputes the state, publishes it, and arms the timer for the moment it would go stale. */
  refresh(): SeedHealthState {
    const s = this.state();
    this.registry.setAll(s.healthy ? "SERVING" : "NOT_SERVING", this.serviceNames);
    const age = this.acc.msSinceReseed();
    const reseed = this.acc.stats().reseedCount;
    if (s.healthy && age !== undefined && this.timerFor !== reseed) {
      this.stop();
      this.timerFor = reseed;
      this.timer = setTimeout(() => {
        this.timerFor = undefined;
        this.refresh();
      }, Math.min(Math.max(this.maxSeedAgeMs + 1 - age, 0), MAX_TIMER_MS));
      this.timer.unref();
    }
    return s;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerFor = undefined;
  }
}
