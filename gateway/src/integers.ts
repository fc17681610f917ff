// Unbiased integers in an inclusive range [min, max] of signed 64-bit values.
// `random() % 6 + 1` favours the low faces whenever 6 does not divide the
// generator's range; instead each candidate takes just enough bits to cover
// the span and candidates beyond the span are thrown away (rejection
// sampling), so every value in the range is exactly equally likely.
import { invalidArgument } from "../../runtime/src/index.js";

export interface RangePlan {
  /** The range's low end: a candidate c stands for min + c. */
  min: bigint;
  /** max - min: 0 .. 2^64-1. */
  span: bigint;
  /** Bytes read per candidate (0 when min == max). */
  bytes: number;
  /** Keeps the low `bits(span)` bits of a candidate. */
  mask: bigint;
  /** Probability that a candidate is accepted, (span+1)/(mask+1), in (0.5, 1]. */
  acceptance: number;
}

/**
 * How to draw from [min, max]. The one check of GetIntegers' request beyond
 * the proto's rules (which cannot relate two fields): min <= max. Both are
 * sint64 fields, so the span fits 64 bits.
 */
export function planRange(min: bigint, max: bigint): RangePlan {
  if (min > max) throw invalidArgument(`min (${min}) must not exceed max (${max})`);
  const span = max - min;
  const bits = span === 0n ? 0 : span.toString(2).length;
  const mask = (1n << BigInt(bits)) - 1n;
  return { min, span, bytes: Math.ceil(bits / 8), mask, acceptance: Number(span + 1n) / Number(mask + 1n) };
}

/** Candidates to request so one round almost always suffices (mean plus ~4 standard deviations). */
export function candidatesFor(plan: RangePlan, needed: number): number {
  // Power-of-two spans reject nothing: take exactly what is needed.
  if (plan.acceptance === 1) return needed;
  const mean = needed / plan.acceptance;
  const sd = Math.sqrt((needed * (1 - plan.acceptance)) / (plan.acceptance * plan.acceptance));
  return Math.ceil(mean + 4 * sd) + 1;
}

function candidate(bytes: Uint8Array, at: number, width: number): bigint {
  // Up to 6 bytes fit a double exactly; only wider candidates need bigint arithmetic.
  if (width <= 6) {
    let n = 0;
    for (let i = 0; i < width; i++) n = n * 256 + bytes[at + i];
    return BigInt(n);
  }
  let n = 0n;
  for (let i = 0; i < width; i++) n = (n << 8n) | BigInt(bytes[at + i]);
  return n;
}

/**
 * Draws `count` integers from `plan`'s range. `take(n)` supplies n random
 * bytes (all or nothing); it is called once in the usual case and again only
 * when the first batch ran short of accepted candidates.
 */
export async function sampleIntegers(plan: RangePlan, count: number, take: (bytes: number) => Promise<Uint8Array>): Promise<bigint[]> {
  const { min } = plan;
  if (plan.bytes === 0) return new Array<bigint>(count).fill(min);
  const out: bigint[] = [];
  while (out.length < count) {
    const batch = await take(candidatesFor(plan, count - out.length) * plan.bytes);
    for (let at = 0; at + plan.bytes <= batch.length && out.length < count; at += plan.bytes) {
      const c = candidate(batch, at, plan.bytes) & plan.mask;
      if (c <= plan.span) out.push(min + c);
    }
  }
  return out;
}
