// Time as the driver and emulator see it. Tests swap in a virtual clock so the
// datasheet timings (23 ms Random, 1.3 s watchdog) run without wall-clock waits.
import { setTimeout as delay } from "node:timers/promises";
import { performance } from "node:perf_hooks";

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  // Timers fire up to a millisecond late; on a 23 ms command that alone would cost ~4% of
  // the chip's throughput, so short waits finish on event-loop turns.
  sleep: (ms) => (ms <= 0 ? Promise.resolve() : ms > PRECISE_BELOW_MS ? delay(ms) : preciseWaitUntil(realClock, performance.now() + ms)),
};
/** Waits shorter than this are finished precisely (the command execution times all are). */
const PRECISE_BELOW_MS = 50;

/** A clock that advances only when someone sleeps on it: deterministic protocol timing in tests. */
export class VirtualClock implements Clock {
  private t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += Math.max(0, ms);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * Waits until `now() >= until` with sub-millisecond precision: timers for the bulk,
 * then event-loop turns for the rest (setTimeout alone rounds up to whole ms).
 */
export async function preciseWaitUntil(clock: Clock, until: number): Promise<void> {
  for (;;) {
    const left = until - clock.now();
    if (left <= 0) return;
    if (left > 2) await delay(Math.floor(left - 1));
    else await new Promise<void>((r) => setImmediate(r));
  }
}
