// The harvest loop: back-to-back raw samples from the source, health-tested raw,
// conditioned with SHA-256, and handed out once each through a small bounded
// buffer. When nobody takes samples the buffer fills and harvesting pauses (the
// chip idles); device faults are retried with bounded back-off forever, so the
// stream resumes by itself when the chip answers again.
import { createHash } from "node:crypto";
import type { Logger } from "../../runtime/src/index.js";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { realClock, type Clock } from "./atecc608a/clock.js";
import { UNLOCKED_TEST_PATTERN } from "./atecc608a/protocol.js";
import { ContinuousHealthTests, type HealthTestSnapshot } from "./health-tests.js";
import type { RawSource } from "./sources.js";

export interface Sample {
  data: Uint8Array;
  sequence: bigint;
}

export interface HarvesterOptions {
  log: Logger;
  /** Conditioned samples kept ready for consumers (default 16: under half a second of chip output). */
  bufferSize?: number;
  /** Minimum spacing between harvests (TRNG_POLL_INTERVAL_MS); 0 = back-to-back. */
  minSpacingMs?: number;
  /** Back-off after a device failure, doubling from min to max (ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** While the buffer is full and nobody reads, harvest one probe sample this often (ms, default 1000). */
  idleProbeMs?: number;
  /** Set when harvesting must not run at all (e.g. an unlocked chip); reported as the reason. */
  blockedReason?: string;
  tests?: ContinuousHealthTests;
  clock?: Clock;
}

export interface HarvesterStatus {
  serving: boolean;
  deviceOk: boolean;
  /** Why the service cannot deliver now; empty when serving. */
  reason: string;
  harvested: bigint;
  tests: HealthTestSnapshot;
}

interface Waiter {
  resolve: (s: Sample) => void;
  reject: (e: unknown) => void;
}

export class Harvester {
  readonly tests: ContinuousHealthTests;
  private readonly buffer: Sample[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly bufferSize: number;
  private readonly idleProbeMs: number;
  private readonly clock: Clock;
  private harvested = 0n;
  private deviceOk = true;
  private deviceError = "";
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private readonly listeners = new Set<(s: HarvesterStatus) => void>();
  private lastServing: boolean | undefined;

  constructor(readonly source: RawSource, private readonly opts: HarvesterOptions) {
    this.tests = opts.tests ?? new ContinuousHealthTests();
    this.bufferSize = opts.bufferSize ?? 16;
    this.idleProbeMs = opts.idleProbeMs ?? 1000;
    this.clock = opts.clock ?? realClock;
  }

  start(): void {
    if (this.running || this.opts.blockedReason) {
      this.emit();
      return;
    }
    this.running = true;
    // The loop catches device errors itself; anything else is a bug, logged rather than crashing the process.
    this.loop = this.run().catch((err) => {
      this.running = false;
      this.deviceOk = false;
      this.deviceError = `harvester stopped by an internal error: ${err instanceof Error ? err.message : String(err)}`;
      this.opts.log.error("harvest loop failed", { error: err });
      this.emit();
    });
    this.emit();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeLoop?.();
    await this.loop;
    for (const w of this.waiters.splice(0)) w.reject(new Error("harvester stopped"));
  }

  /** Conditioned samples waiting for a consumer. */
  get buffered(): number {
    return this.buffer.length;
  }

  status(): HarvesterStatus {
    const tests = this.tests.snapshot();
    const reason = this.opts.blockedReason ?? (!this.deviceOk ? `device failing: ${this.deviceError}` : !tests.passing ? `entropy health tests: ${tests.reason}` : "");
    return { serving: reason === "", deviceOk: this.deviceOk && !this.opts.blockedReason, reason, harvested: this.harvested, tests };
  }

  /** Called with the status whenever serving flips (and once at start). */
  onChange(fn: (s: HarvesterStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The next sample, handed to this caller only. */
  take(signal?: AbortSignal): Promise<Sample> {
    const ready = this.buffer.shift();
    if (ready) {
      this.wakeLoop?.();
      return Promise.resolve(ready);
    }
    return new Promise<Sample>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (s) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(s);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason ?? new Error("aborted"));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.wakeLoop?.();
    });
  }

  private emit(): void {
    const s = this.status();
    if (s.serving === this.lastServing) return;
    this.lastServing = s.serving;
    if (s.serving) this.opts.log.info("entropy serving", { source: EntropySource[this.source.kind] });
    else this.opts.log.warn("entropy not serving", { reason: s.reason });
    for (const fn of this.listeners) fn(s);
  }

  private deliver(sample: Sample): void {
    const waiter = this.waiters.shift();
    if (waiter) return waiter.resolve(sample);
    if (this.buffer.length >= this.bufferSize) this.buffer.shift();
    this.buffer.push(sample);
  }

  private idleUntilWanted(): Promise<void> {
    return new Promise((r) => (this.wakeLoop = r));
  }

  private async run(): Promise<void> {
    const { log } = this.opts;
    let backoff = this.opts.retryMinMs ?? 100;
    while (this.running) {
      if (this.buffer.length >= this.bufferSize) {
        await this.source.pause();
        const wanted = this.idleUntilWanted();
        if (this.buffer.length >= this.bufferSize && this.running) await Promise.race([wanted, this.clock.sleep(this.idleProbeMs)]);
        // Still full: one probe sample keeps the health verdict current and the buffer fresh (it replaces the oldest).
        if (this.buffer.length < this.bufferSize || !this.running) continue;
      }
      let raw: Uint8Array;
      try {
        raw = await this.source.next();
      } catch (err) {
        if (!this.running) break;
        const message = err instanceof Error ? err.message : String(err);
        if (this.deviceOk || message !== this.deviceError) log.warn("entropy source failed; retrying", { error: message, retryInMs: backoff });
        this.deviceOk = false;
        this.deviceError = message;
        this.emit();
        await this.source.pause();
        await this.interruptibleSleep(backoff);
        backoff = Math.min(backoff * 2, this.opts.retryMaxMs ?? 2000);
        continue;
      }
      backoff = this.opts.retryMinMs ?? 100;
      if (!this.deviceOk) log.info("entropy source answers again");
      this.deviceOk = true;
      this.harvested++;
      const sequence = this.harvested - 1n;
      const wasPassing = this.tests.passing;
      // The unlocked chip's pattern is refused outright, before the statistical tests even need to notice.
      const pattern = equal(raw, UNLOCKED_TEST_PATTERN);
      const pass = this.tests.check(raw) && !pattern;
      if (wasPassing && !this.tests.passing) this.buffer.splice(0); // samples released just before a failure are suspect
      if (pass) this.deliver({ data: new Uint8Array(createHash("sha256").update(raw).digest()), sequence });
      this.emit();
      if (this.opts.minSpacingMs) await this.interruptibleSleep(this.opts.minSpacingMs);
    }
  }

  private async interruptibleSleep(ms: number): Promise<void> {
    await Promise.race([this.clock.sleep(ms), new Promise<void>((r) => (this.wakeLoop = () => (this.running ? undefined : r())))]);
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
