// NIST SP 800-90B §4.4 continuous health tests on the RAW Random output, before
// SHA-256 conditioning (hashing would make a stuck or biased source look fine).
// Samples are bytes (8-bit symbols). Cutoffs follow the standard's formulas from
// the assessed min-entropy per sample H and the false-alarm probability α.

/**
 * Assessed min-entropy per byte. The ATECC608A's Random output comes from its
 * internal NIST SP 800-90A DRBG seeded by its noise source, so its bytes are
 * designed to be full-entropy: H = 8. Claiming less would only loosen the cutoffs.
 */
export const MIN_ENTROPY_PER_BYTE = 8;
/**
 * α = 2^-40, the strictest end of the range SP 800-90B §4.4 recommends (2^-20..2^-40): at
 * the chip's ~1.3 KB/s a healthy source trips a test about once in decades, not daily.
 */
export const ALPHA_LOG2 = 40;
/** §4.4.2: W = 512 for non-binary samples. */
export const APT_WINDOW = 512;
/** §4.3: start-up testing runs the continuous tests over 1024 consecutive samples before any output. */
export const STARTUP_SAMPLES = 1024;

/** §4.4.1: C = 1 + ⌈(−log2 α) / H⌉. */
export function repetitionCountCutoff(h = MIN_ENTROPY_PER_BYTE, alphaLog2 = ALPHA_LOG2): number {
  return 1 + Math.ceil(alphaLog2 / h);
}

/** CRITBINOM(n, p, 1−α): the smallest k with P(X ≤ k) ≥ 1−α for X ~ Binomial(n, p), via the upper tail. */
export function critBinom(n: number, p: number, alphaLog2: number): number {
  const alpha = 2 ** -alphaLog2;
  const pmf = new Float64Array(n + 1);
  pmf[0] = (1 - p) ** n;
  for (let j = 0; j < n; j++) pmf[j + 1] = (pmf[j] * (n - j) * p) / ((j + 1) * (1 - p));
  // tail(k) = P(X > k); summed from the top so tiny tails are not lost to cancellation.
  let tail = 0;
  let k = n;
  while (k > 0 && tail + pmf[k] <= alpha) tail += pmf[k--];
  return k;
}

/** §4.4.2: C = 1 + CRITBINOM(W, 2^−H, 1 − α). */
export function adaptiveProportionCutoff(window = APT_WINDOW, h = MIN_ENTROPY_PER_BYTE, alphaLog2 = ALPHA_LOG2): number {
  return 1 + critBinom(window, 2 ** -h, alphaLog2);
}

export interface HealthTestSnapshot {
  passing: boolean;
  reason: string;
  repetitionCountFailures: bigint;
  adaptiveProportionFailures: bigint;
  repetitionCutoff: number;
  adaptiveProportionCutoff: number;
  adaptiveProportionWindow: number;
}

/**
 * RCT and APT over a byte stream. A failure blocks output until STARTUP_SAMPLES
 * fresh bytes pass both tests in a row (recovery is a repeat of start-up testing).
 */
export class ContinuousHealthTests {
  readonly rctCutoff: number;
  readonly aptCutoff: number;
  readonly window: number;
  private rctFailures = 0n;
  private aptFailures = 0n;
  private last = -1;
  private run = 0;
  private aptRef = -1;
  private aptCount = 0;
  private aptSeen = 0;
  /** Bytes passed in a row since start-up or the last failure. */
  private clean = 0;
  private lastFailure = "";

  constructor(opts: { h?: number; alphaLog2?: number; window?: number } = {}) {
    this.window = opts.window ?? APT_WINDOW;
    this.rctCutoff = repetitionCountCutoff(opts.h, opts.alphaLog2);
    this.aptCutoff = adaptiveProportionCutoff(this.window, opts.h, opts.alphaLog2);
  }

  get passing(): boolean {
    return this.clean >= STARTUP_SAMPLES;
  }

  /** Feeds one raw sample; true when it may be conditioned and released. */
  check(sample: Uint8Array): boolean {
    let failed = false;
    for (const byte of sample) {
      // §4.4.1 Repetition Count Test
      if (byte === this.last) {
        if (++this.run >= this.rctCutoff) {
          this.rctFailures++;
          this.fail(`repetition count test: byte 0x${hex(byte)} repeated ${this.run} times (cutoff ${this.rctCutoff})`);
          failed = true;
          this.run = 1;
        }
      } else {
        this.last = byte;
        this.run = 1;
      }
      // §4.4.2 Adaptive Proportion Test
      if (this.aptSeen === 0) {
        this.aptRef = byte;
        this.aptCount = 1;
        this.aptSeen = 1;
      } else {
        if (byte === this.aptRef && ++this.aptCount >= this.aptCutoff) {
          this.aptFailures++;
          this.fail(`adaptive proportion test: byte 0x${hex(this.aptRef)} seen ${this.aptCount} times in a window of ${this.window} (cutoff ${this.aptCutoff})`);
          failed = true;
          this.aptSeen = 0;
          continue;
        }
        if (++this.aptSeen >= this.window) this.aptSeen = 0;
      }
    }
    if (failed) return false;
    const wasPassing = this.passing;
    this.clean += sample.length;
    // The sample that completes start-up/recovery testing is itself only a test sample.
    return wasPassing;
  }

  private fail(reason: string): void {
    this.clean = 0;
    this.lastFailure = reason;
  }

  snapshot(): HealthTestSnapshot {
    const passing = this.passing;
    return {
      passing,
      reason: passing ? "" : this.lastFailure || `start-up testing: ${this.clean} of ${STARTUP_SAMPLES} bytes passed`,
      repetitionCountFailures: this.rctFailures,
      adaptiveProportionFailures: this.aptFailures,
      repetitionCutoff: this.rctCutoff,
      adaptiveProportionCutoff: this.aptCutoff,
      adaptiveProportionWindow: this.window,
    };
  }
}

const hex = (b: number) => b.toString(16).padStart(2, "0");
