// The harvest loop: back-to-back raw Random outputs from the source, health-tested
// raw, two at a time SHA-256-conditioned into one sample (conditioning.ts), held
// by the health gate until the tests covering their raw bytes have passed, and
// handed out once each through a small bounded buffer. When nobody takes samples
// the buffer fills and harvesting pauses (the chip idles); device faults are
// retried with bounded back-off forever, and a device that answers again passes
// start-up testing before its output is used, so the stream resumes by itself.
import { Backoff, type Logger } from "../../runtime/src/index.js";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { realClock, type Clock } from "./atecc608a/clock.js";
import { UNLOCKED_TEST_PATTERN } from "./atecc608a/protocol.js";
import { condition, entropyClaim, RANDOM_OUTPUTS_PER_SAMPLE } from "./conditioning.js";
import { HealthGate, type HealthTestSnapshot } from "./health-gate.js";
import type { RawSource } from "./sources.js";

export interface Sample {
  /** SHA-256 of RANDOM_OUTPUTS_PER_SAMPLE raw outputs. */
  data: Uint8Array;
  /** Position among the samples formed since start-up (withheld ones count too). */
  sequence: bigint;
  /** Index of the first raw output it was conditioned from, counting every output the source returned. */
  firstRead: bigint;
}

export interface HarvesterOptions {
  log: Logger;
  /** Conditioned samples kept ready for consumers (default 16: about a second of chip output). */
  bufferSize?: number;
  /** Minimum spacing between samples (TRNG_POLL_INTERVAL_MS); 0 = back-to-back. */
  minSpacingMs?: number;
  /** Back-off after a device failure, doubling from min to max (ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** While the buffer is full and nobody reads, harvest one probe sample this often (ms, default 1000). */
  idleProbeMs?: number;
  /** Set when harvesting must not run at all (e.g. an unlocked chip); reported as the reason. */
  blockedReason?: string;
  gate?: HealthGate<Sample>;
  clock?: Clock;
}

export interface HarvesterStatus {
  serving: boolean;
  deviceOk: boolean;
  /** Why the service cannot deliver now; empty when serving. */
  reason: string;
  /** Samples formed since start-up, released or not. */
  harvested: bigint;
  /** Raw outputs read from the source since start-up. */
  rawReads: bigint;
  tests: HealthTestSnapshot;
}

interface Waiter {
  resolve: (s: Sample) => void;
  reject: (e: unknown) => void;
}

export class Harvester {
  readonly gate: HealthGate<Sample>;
  private readonly buffer: Sample[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly bufferSize: number;
  private readonly idleProbeMs: number;
  private readonly clock: Clock;
  private harvested = 0n;
  private rawReads = 0n;
  private deviceOk = true;
  private deviceError = "";
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private readonly listeners = new Set<(s: HarvesterStatus) => void>();
  private lastServing: boolean | undefined;

  constructor(readonly source: RawSource, private readonly opts: HarvesterOptions) {
    this.gate = opts.gate ?? new HealthGate<Sample>();
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
    const tests = this.gate.snapshot();
    const reason = this.opts.blockedReason ?? (!this.deviceOk ? `device failing: ${this.deviceError}` : !tests.passing ? `entropy health tests: ${tests.reason}` : "");
    return { serving: reason === "", deviceOk: this.deviceOk && !this.opts.blockedReason, reason, harvested: this.harvested, rawReads: this.rawReads, tests };
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
    if (s.serving) this.opts.log.info("entropy serving", { source: EntropySource[this.source.kind], entropyClaim: entropyClaim(this.source.kind).text });
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
    const backoff = new Backoff({ minMs: this.opts.retryMinMs ?? 100, maxMs: this.opts.retryMaxMs ?? 2000 });
    while (this.running) {
      if (this.buffer.length >= this.bufferSize) {
        await this.source.pause();
        const wanted = this.idleUntilWanted();
        if (this.buffer.length >= this.bufferSize && this.running) await Promise.race([wanted, this.clock.sleep(this.idleProbeMs)]);
        // Still full: one probe sample keeps the health verdict current and the buffer fresh (it replaces the oldest).
        if (this.buffer.length < this.bufferSize || !this.running) continue;
      }
      const raws: Uint8Array[] = [];
      try {
        while (raws.length < RANDOM_OUTPUTS_PER_SAMPLE) {
          raws.push(await this.source.next());
          this.rawReads++;
        }
      } catch (err) {
        if (!this.running) break;
        const wait = backoff.next();
        const message = err instanceof Error ? err.message : String(err);
        if (this.deviceOk || message !== this.deviceError) log.warn("entropy source failed; retrying", { error: message, retryInMs: wait });
        this.deviceOk = false;
        this.deviceError = message;
        // Whatever the device said before it failed is not used, and once it answers again
        // its output passes start-up testing first (SP 800-90B §4.3).
        this.gate.restart("after the device recovered from a failure");
        this.emit();
        await this.source.pause();
        await this.interruptibleSleep(wait);
        continue;
      }
      backoff.reset();
      if (!this.deviceOk) log.info("entropy source answers again; start-up testing before its output is used");
      this.deviceOk = true;
      const sample: Sample = { data: condition(raws), sequence: this.harvested, firstRead: this.rawReads - BigInt(raws.length) };
      this.harvested++;
      const wasPassing = this.gate.passing;
      // The unlocked chip's pattern is refused outright, before the statistical tests even need to notice.
      if (raws.some((raw) => equal(raw, UNLOCKED_TEST_PATTERN))) this.gate.fail("the unlocked chip's fixed test pattern, not random data");
      else for (const released of this.gate.add(concat(raws), sample)) this.deliver(released);
      if (wasPassing && !this.gate.passing) {
        // Samples released just before a failure are suspect too.
        this.gate.discard(this.buffer.length);
        this.buffer.splice(0);
      }
      this.emit();
      if (this.opts.minSpacingMs) await this.interruptibleSleep(this.opts.minSpacingMs);
    }
  }

  private async interruptibleSleep(ms: number): Promise<void> {
    await Promise.race([this.clock.sleep(ms), new Promise<void>((r) => (this.wakeLoop = () => (this.running ? undefined : r())))]);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
