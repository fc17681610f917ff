// NIST SP 800-90B §4.4 continuous health tests on the RAW Random output, before
// SHA-256 conditioning (hashing would make a stuck or biased source look fine).
// Samples are bytes (8-bit symbols). Cutoffs follow the standard's formulas from
// the min-entropy per sample H and the false-alarm probability α. Start-up
// testing and what a failure does to output live in health-gate.ts.

/**
 * Min-entropy per byte the cutoffs are computed for. The ATECC608A's Random output
 * comes from its internal NIST SP 800-90A DRBG seeded by its noise source, so its bytes
 * are designed to be indistinguishable from uniform: H = 8. Claiming less would only
 * loosen the cutoffs. (The entropy the conditioning claim credits is lower, see
 * conditioning.ts.)
 */
export const MIN_ENTROPY_PER_BYTE = 8;
/**
 * α = 2^-40, the strictest end of the range SP 800-90B §4.4 recommends (2^-20..2^-40): at
 * the chip's ~1.2 KB/s of raw output a healthy source trips a test about once in decades, not daily.
 */
export const ALPHA_LOG2 = 40;
/** §4.4.2: W = 512 for non-binary samples. */
export const APT_WINDOW = 512;
/** §4.3: start-up testing runs the continuous tests over at least 1024 consecutive samples before any output. */
export const STARTUP_SAMPLES = 1024;

/** §4.4.1: C = 1 + ⌈(−log2 α) / H⌉. */
export function repetitionCountCutoff(h = MIN_ENTROPY_PER_BYTE, alphaLog2 = ALPHA_LOG2): number {
  return 1 + Math.ceil(alphaLog2 / h);
}

/** log P(X = j) for j = 0..n, X ~ Binomial(n, p); in logs because (1−p)^n underflows for n in the thousands. */
function binomialLogPmf(n: number, p: number): Float64Array {
  const log = new Float64Array(n + 1);
  log[0] = n * Math.log1p(-p);
  for (let j = 0; j < n; j++) log[j + 1] = log[j] + Math.log(((n - j) * p) / ((j + 1) * (1 - p)));
  return log;
}

/** P(X ≥ k) for X ~ Binomial(n, p), summed from the top so tiny tails are not lost to cancellation. */
export function binomialUpperTail(n: number, p: number, k: number): number {
  const log = binomialLogPmf(n, p);
  let tail = 0;
  for (let j = n; j >= Math.max(k, 0); j--) tail += Math.exp(log[j]);
  return tail;
}

/** CRITBINOM(n, p, 1−α): the smallest k with P(X ≤ k) ≥ 1−α for X ~ Binomial(n, p), via the upper tail. */
export function critBinom(n: number, p: number, alphaLog2: number): number {
  const alpha = 2 ** -alphaLog2;
  const log = binomialLogPmf(n, p);
  // tail(k) = P(X > k)
  let tail = 0;
  let k = n;
  while (k > 0 && tail + Math.exp(log[k]) <= alpha) tail += Math.exp(log[k--]);
  return k;
}

/** §4.4.2: C = 1 + CRITBINOM(W, 2^−H, 1 − α). */
export function adaptiveProportionCutoff(window = APT_WINDOW, h = MIN_ENTROPY_PER_BYTE, alphaLog2 = ALPHA_LOG2): number {
  return 1 + critBinom(window, 2 ** -h, alphaLog2);
}

/**
 * The Repetition Count Test and the Adaptive Proportion Test over a byte stream.
 * They only judge bytes; what a failure means for output is the gate's business.
 */
export class ContinuousHealthTests {
  readonly rctCutoff: number;
  readonly aptCutoff: number;
  readonly window: number;
  repetitionCountFailures = 0n;
  adaptiveProportionFailures = 0n;
  private last = -1;
  private run = 0;
  private aptRef = -1;
  private aptCount = 0;
  private aptSeen = 0;

  constructor(opts: { h?: number; alphaLog2?: number; window?: number } = {}) {
    this.window = opts.window ?? APT_WINDOW;
    this.rctCutoff = repetitionCountCutoff(opts.h, opts.alphaLog2);
    this.aptCutoff = adaptiveProportionCutoff(this.window, opts.h, opts.alphaLog2);
  }

  /** Feeds raw bytes; returns why the first test failed on them, or undefined when they all passed. */
  check(bytes: Uint8Array): string | undefined {
    let failure: string | undefined;
    for (const byte of bytes) {
      // §4.4.1 Repetition Count Test
      if (byte === this.last) {
        if (++this.run >= this.rctCutoff) {
          this.repetitionCountFailures++;
          failure ??= `repetition count test: byte 0x${hex(byte)} repeated ${this.run} times (cutoff ${this.rctCutoff})`;
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
          this.adaptiveProportionFailures++;
          failure ??= `adaptive proportion test: byte 0x${hex(this.aptRef)} seen ${this.aptCount} times in a window of ${this.window} (cutoff ${this.aptCutoff})`;
          this.aptSeen = 0;
          continue;
        }
        if (++this.aptSeen >= this.window) this.aptSeen = 0;
      }
    }
    return failure;
  }

  /** Forgets the run and the open window (start-up testing begins afresh); failure counts stay. */
  reset(): void {
    this.last = -1;
    this.run = 0;
    this.aptSeen = 0;
  }
}

const hex = (b: number) => b.toString(16).padStart(2, "0");
