// How raw Random output becomes one 32-byte sample, and the entropy claim that
// rests on it. SHA-256 is a vetted conditioning component (SP 800-90B §3.1.5.1.1);
// its output counts as full entropy only when its input carries at least
// n_out + 64 bits of entropy (§3.1.5.1.2). One Random output (32 bytes) cannot
// carry 320 bits, so each sample conditions several. The numbers and why the
// chip is credited 5 bits/byte: controller/README.md, "Entropy claim and health tests".
import { createHash } from "node:crypto";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { RANDOM_SIZE } from "./atecc608a/protocol.js";

/** n_out: one sample is one SHA-256 output, 256 bits. */
export const SAMPLE_BYTES = 32;
/** §3.1.5.1.2: full entropy needs h_in ≥ n_out + 64 bits. */
export const FULL_ENTROPY_MARGIN_BITS = 64;
/**
 * Min-entropy per raw byte the claim credits the chip's Random output with: 5 of the 8 the
 * health tests expect, the least at which two outputs still carry 256 + 64 bits. A bit
 * bias bad enough to push a byte below it (P(1) ≥ 2^(−5/8) ≈ 0.648) fails the monobit
 * test's 512-byte window with probability 1 − 2^-131.
 */
export const CREDITED_ENTROPY_PER_BYTE = 5;
/** Random outputs conditioned into one sample: the fewest whose credited entropy reaches n_out + 64 (2). */
export const RANDOM_OUTPUTS_PER_SAMPLE = Math.ceil((SAMPLE_BYTES * 8 + FULL_ENTROPY_MARGIN_BITS) / (CREDITED_ENTROPY_PER_BYTE * RANDOM_SIZE));
/** Raw bytes behind one sample (64). */
export const RAW_BYTES_PER_SAMPLE = RANDOM_OUTPUTS_PER_SAMPLE * RANDOM_SIZE;

/** SHA-256 over the raw outputs, in the order they were read. */
export function condition(raws: readonly Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const raw of raws) hash.update(raw);
  return new Uint8Array(hash.digest());
}

export interface EntropyClaim {
  /** Min-entropy credited to one sample's raw input, bits; 0 where no claim is made. */
  creditedInputBits: number;
  /** The claim in words, naming the running source. */
  text: string;
}

/** What may be claimed for samples of `kind`: only a real chip's output is credited with entropy. */
export function entropyClaim(kind: EntropySource): EntropyClaim {
  const how = `SHA-256 of ${RANDOM_OUTPUTS_PER_SAMPLE} Random outputs (${RAW_BYTES_PER_SAMPLE} raw bytes) per ${SAMPLE_BYTES}-byte sample`;
  switch (kind) {
    case EntropySource.ATECC608A: {
      const bits = RAW_BYTES_PER_SAMPLE * CREDITED_ENTROPY_PER_BYTE;
      return {
        creditedInputBits: bits,
        text: `full entropy: ${how}, credited at ${CREDITED_ENTROPY_PER_BYTE} bits/byte = ${bits} bits >= ${SAMPLE_BYTES * 8} + ${FULL_ENTROPY_MARGIN_BITS} (SP 800-90B §3.1.5.1.2)`,
      };
    }
    case EntropySource.EMULATOR:
      return { creditedInputBits: 0, text: `none: the ATECC608A emulator (development only) makes its bytes in software; ${how}` };
    case EntropySource.OS:
      return { creditedInputBits: 0, text: `none: the operating system's CSPRNG (fallback, not a hardware noise source, not assessed under SP 800-90B); ${how}` };
    default:
      return { creditedInputBits: 0, text: "none: unknown source" };
  }
}
