// When a conditioned sample may leave the controller. Start-up testing (SP 800-90B
// §4.3) runs at start, after every health-test failure and after the device
// recovers from a failure; the samples it sees are test samples only. After it, a
// sample is held until the monobit window holding its raw bytes AND the window
// after it have passed, with the RCT and APT passing throughout. Output that goes
// bad inside a window that still passes is caught by the next, wholly bad window
// before any sample made from it is released, so a failure the tests catch within
// one window delivers no sample conditioned from bad bytes.
import { ContinuousHealthTests, STARTUP_SAMPLES } from "./health-tests.js";
import { MonobitTest } from "./monobit-test.js";
import type { HealthTestState } from "../../gen/lokey/controller/v1/controller_pb.js";

/** The gate's state as the proto declares it (controller.proto HealthTestState). */
export type HealthTestSnapshot = Omit<HealthTestState, "$typeName" | "$unknown">;

export class HealthGate<T> {
  readonly continuous: ContinuousHealthTests;
  readonly monobit: MonobitTest;
  /** Monobit windows one start-up test spans: enough to cover §4.3's 1024 samples (2 of 512 bytes). */
  readonly startupWindows: number;
  private startupLeft: number;
  private startupBytes = 0;
  /** Items whose raw bytes are in the open window. */
  private current: T[] = [];
  /** Items of the last passed window, released when the next one passes. */
  private cleared: T[] = [];
  private lastFailure = "";
  /** Why start-up testing runs again (empty for the first one). */
  private cause = "";
  private startups = 0n;
  private discarded = 0n;
  private startupFails = 0n;
  private otherFails = 0n;

  constructor(opts: { continuous?: ContinuousHealthTests; monobit?: MonobitTest } = {}) {
    this.continuous = opts.continuous ?? new ContinuousHealthTests();
    this.monobit = opts.monobit ?? new MonobitTest();
    this.startupWindows = Math.ceil((STARTUP_SAMPLES * 8) / this.monobit.windowBits);
    this.startupLeft = this.startupWindows;
  }

  /** Start-up testing has passed and nothing failed since. */
  get passing(): boolean {
    return this.startupLeft === 0;
  }

  /** Feeds the raw bytes one item was conditioned from; returns the items this releases, oldest first. */
  add(raw: Uint8Array, item: T): T[] {
    const failure = this.continuous.check(raw);
    if (failure) {
      this.failed(failure);
      return [];
    }
    const verdict = this.monobit.feed(raw);
    if (verdict.failure) {
      this.failed(verdict.failure);
      return [];
    }
    this.startupBytes += raw.length;
    // The item belongs to the window its last byte fell in.
    const released: T[] = [];
    for (let i = 0; i < verdict.passed - (verdict.endsWindow ? 1 : 0); i++) released.push(...this.windowPassed());
    this.current.push(item);
    if (verdict.endsWindow) released.push(...this.windowPassed());
    return released;
  }

  /** A failure found outside the statistical tests (e.g. the unlocked chip's fixed pattern). */
  fail(reason: string): void {
    this.otherFails++;
    this.failed(reason);
  }

  private failed(reason: string): void {
    if (!this.passing) this.startupFails++;
    this.lastFailure = reason;
    this.restart("after a failure");
  }

  /** Failures of any test while start-up testing ran (each starts it over); for the metrics, beside the snapshot's per-test counts. */
  get startupFailures(): bigint {
    return this.startupFails;
  }

  /** Failures reported through fail(): found outside the statistical tests. */
  get otherFailures(): bigint {
    return this.otherFails;
  }

  /** Drops everything held and starts start-up testing again (e.g. the device failed and answers again). */
  restart(cause: string): void {
    if (this.passing) this.discarded += BigInt(this.current.length + this.cleared.length);
    this.current = [];
    this.cleared = [];
    this.startupLeft = this.startupWindows;
    this.startupBytes = 0;
    this.cause = cause;
    this.continuous.reset();
    this.monobit.reset();
  }

  /** Counts released samples the caller dropped after a failure. */
  discard(n: number): void {
    this.discarded += BigInt(n);
  }

  private windowPassed(): T[] {
    if (this.startupLeft > 0) {
      // §4.3: start-up samples are test samples only.
      this.current = [];
      if (--this.startupLeft === 0) {
        this.startups++;
        this.lastFailure = "";
        this.cause = "";
      }
      return [];
    }
    const out = this.cleared;
    this.cleared = this.current;
    this.current = [];
    return out;
  }

  snapshot(): HealthTestSnapshot {
    const passing = this.passing;
    const progress = `start-up testing${this.cause ? ` ${this.cause}` : ""}: ${this.startupBytes} of ${(this.startupWindows * this.monobit.windowBits) / 8} bytes passed`;
    return {
      passing,
      reason: passing ? "" : this.lastFailure ? `${this.lastFailure}; ${progress}` : progress,
      repetitionCountFailures: this.continuous.repetitionCountFailures,
      adaptiveProportionFailures: this.continuous.adaptiveProportionFailures,
      repetitionCutoff: this.continuous.rctCutoff,
      adaptiveProportionCutoff: this.continuous.aptCutoff,
      adaptiveProportionWindow: this.continuous.window,
      monobitFailures: this.monobit.failures,
      monobitWindowBits: this.monobit.windowBits,
      monobitMinOnes: this.monobit.minOnes,
      monobitMaxOnes: this.monobit.maxOnes,
      startupTestsPassed: this.startups,
      samplesDiscarded: this.discarded,
    };
  }
}
