// A continuous monobit test on the RAW Random output, beside SP 800-90B's RCT and
// APT. Those are sized for H = 8 bits/byte and only catch gross failures: a chip
// whose bits are 1 with probability 0.6 (≈ 5.9 bits/byte) passes them for ever.
// The chip's output should be indistinguishable from uniform, so this test counts
// the ones in consecutive windows and rejects a window whose count a fair source
// would reach with probability at most 2^-30. It is a developer-defined continuous
// test run alongside SP 800-90B §4.4's approved two, on the same raw bytes.
import { binomialUpperTail, critBinom } from "./health-tests.js";

/**
 * Bits per window: 4096 (512 bytes, eight conditioned samples). Large enough that a bias of
 * 0.6 misses a whole window with probability 2^-37, small enough that detection comes within
 * 1 KiB of biased output (controller/README.md, "Entropy claim and health tests").
 */
export const MONOBIT_WINDOW_BITS = 4096;
/** False-alarm probability per window on a fair source: 2^-30, split as 2^-31 per tail. */
export const MONOBIT_ALPHA_LOG2 = 30;

export interface MonobitBounds {
  /** A window passes with minOnes ≤ ones ≤ maxOnes. */
  minOnes: number;
  maxOnes: number;
  /** P(a fair window falls outside), exact under Binomial(bits, 1/2). */
  falseAlarm: number;
}

/** The accepted range of ones: each tail of Binomial(bits, 1/2) beyond it holds at most α/2. */
export function monobitBounds(bits = MONOBIT_WINDOW_BITS, alphaLog2 = MONOBIT_ALPHA_LOG2): MonobitBounds {
  const maxOnes = critBinom(bits, 0.5, alphaLog2 + 1);
  const minOnes = bits - maxOnes;
  return { minOnes, maxOnes, falseAlarm: 2 * binomialUpperTail(bits, 0.5, maxOnes + 1) };
}

/** P(a window of a source whose bits are 1 with probability p passes), i.e. the chance of missing it. */
export function monobitMissProbability(p: number, bits = MONOBIT_WINDOW_BITS, alphaLog2 = MONOBIT_ALPHA_LOG2): number {
  const { minOnes, maxOnes } = monobitBounds(bits, alphaLog2);
  return binomialUpperTail(bits, p, minOnes) - binomialUpperTail(bits, p, maxOnes + 1);
}

const ONES = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let v = b; v; v >>= 1) n += v & 1;
  return n;
});

export interface MonobitVerdict {
  /** Windows this input completed and that passed. */
  passed: number;
  /** The input's last byte closed a window (so it belongs to the last completed one). */
  endsWindow: boolean;
  /** Why a window failed; once one fails the rest of the input is not judged. */
  failure?: string;
}

export class MonobitTest {
  readonly windowBits: number;
  readonly minOnes: number;
  readonly maxOnes: number;
  readonly falseAlarm: number;
  failures = 0n;
  private ones = 0;
  private seen = 0;
  private readonly windowBytes: number;

  constructor(opts: { windowBits?: number; alphaLog2?: number } = {}) {
    this.windowBits = opts.windowBits ?? MONOBIT_WINDOW_BITS;
    if (this.windowBits % 8 !== 0 || this.windowBits <= 0) throw new RangeError("the monobit window is a whole number of bytes");
    this.windowBytes = this.windowBits / 8;
    ({ minOnes: this.minOnes, maxOnes: this.maxOnes, falseAlarm: this.falseAlarm } = monobitBounds(this.windowBits, opts.alphaLog2));
  }

  feed(bytes: Uint8Array): MonobitVerdict {
    let passed = 0;
    let endsWindow = false;
    for (const byte of bytes) {
      this.ones += ONES[byte];
      endsWindow = ++this.seen === this.windowBytes;
      if (!endsWindow) continue;
      const ones = this.ones;
      this.reset();
      if (ones < this.minOnes || ones > this.maxOnes) {
        this.failures++;
        return { passed, endsWindow: false, failure: `monobit test: ${ones} ones in a window of ${this.windowBits} bits (accepted ${this.minOnes}..${this.maxOnes})` };
      }
      passed++;
    }
    return { passed, endsWindow };
  }

  /** Starts a fresh window (start-up testing begins afresh); the failure count stays. */
  reset(): void {
    this.ones = 0;
    this.seen = 0;
  }
}
