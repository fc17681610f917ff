// Seeds every Fortuna instance from the hardware TRNG: at start-up (as soon
// as both answer) and then every reseed interval (seed document, "Fortuna
// Seeding Flow": 5 samples every 30 s). The samples come from the
// controller's Generate, never from the TRNG queue, so seed material is
// never also served to clients. Each instance gets its own samples: two
// instances seeded identically from scratch would emit identical streams.
import type { Logger } from "../../../runtime/src/index.js";
import type { RetryPolicy } from "./config.js";
import { pause } from "./lock.js";
import { withCallSignal, type Upstreams } from "./upstreams.js";

/** Samples per seeding (seed document: "Fetch 5 TRNG samples from Controller"). */
export const SEED_SAMPLES = 5;

export class Seeder {
  /** Per Fortuna instance: seeded by us at least once since start. */
  private readonly seededOnce: boolean[];
  lastError?: string;
  seedings = 0;

  constructor(
    private readonly up: Upstreams,
    private readonly intervalMs: number,
    private readonly retry: RetryPolicy,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.seededOnce = up.fortuna.map(() => false);
  }

  /** Every Fortuna instance was seeded at least once. */
  get seeded(): boolean {
    return this.seededOnce.every(Boolean);
  }

  async run(signal: AbortSignal): Promise<void> {
    let wait = this.retry.minMs;
    let due = this.up.fortuna.map((_, i) => i);
    while (!signal.aborted) {
      const failed: number[] = [];
      for (const i of due) {
        if (signal.aborted) return;
        try {
          await this.seedOne(i, signal);
        } catch (err) {
          if (signal.aborted) return;
          failed.push(i);
          this.lastError = `${this.up.fortuna[i].link.address}: ${err instanceof Error ? err.message : String(err)}`;
          this.log.warn("seeding Fortuna failed; retrying", { error: this.lastError, retryInMs: wait });
        }
      }
      if (failed.length === 0) {
        this.lastError = undefined;
        due = this.up.fortuna.map((_, i) => i);
        wait = this.retry.minMs;
        await pause(this.intervalMs, signal);
      } else {
        due = failed;
        await pause(wait, signal);
        wait = Math.min(wait * 2, this.retry.maxMs, this.intervalMs);
      }
    }
  }

  private async seedOne(i: number, signal: AbortSignal): Promise<void> {
    const f = this.up.fortuna[i];
    const timeoutMs = this.timeoutMs;
    const samples = await withCallSignal(signal, (s) => this.up.controller.generate({ count: SEED_SAMPLES }, { timeoutMs, signal: s }));
    this.up.controllerLink.up();
    if (samples.data.length === 0) throw new Error("controller returned no samples");
    await withCallSignal(signal, (s) => f.client.seed({ seeds: samples.data }, { timeoutMs, signal: s }));
    f.link.up();
    this.seedings++;
    const first = !this.seededOnce[i];
    this.seededOnce[i] = true;
    if (first) this.log.info("Fortuna seeded", { address: f.link.address });
    // A stream refused while unseeded can be retried right away.
    f.link.wake.fire();
  }
}
