// The generator's first key. A seed file reseeds the generator at start-up so
// it can serve at once (Cryptography Engineering 9.6); here the first Seed
// call plays that part. But a seed file is a secret of this machine, and a
// caller's seed is known to the caller: were it the whole first key, whoever
// sent it would know every later output, and by timing its own events it
// could keep every other seeder's entropy from ever counting. So the first
// reseed takes the caller's material together with secret entropy of this
// machine that no caller sees: K = SHAd256(K0 || local || seeds), with K0 the
// zero key of 9.4.1. Neither part alone determines the key.
import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { MIN_POOL_SIZE, type Accumulator } from "./accumulator.js";

/**
 * The least seed material the first seed may carry, in all: the book's
 * MinPoolSize (9.5.5), what a reseed from P0 needs at least. The key then
 * rests on the seeder's entropy (the TRNG's samples) as well as the local
 * secret, and one short, guessable value can never be the first seed.
 */
export const FIRST_SEED_MIN_BYTES = MIN_POOL_SIZE;

/** Local secret mixed into the first key: one generator key's worth (9.4.1, 256 bits). */
export const LOCAL_SECRET_BYTES = 32;

/** Where the local secret comes from: the OS CSPRNG unless a test says otherwise. A fresh buffer each call: it is wiped after use. */
export type LocalEntropy = (bytes: number) => Uint8Array;

/** Total bytes in the seeds. */
export const seedBytes = (seeds: readonly Uint8Array[]): number => seeds.reduce((n, s) => n + s.length, 0);

/**
 * Reseeds an unseeded generator from `seeds` and a fresh local secret.
 * Throws INVALID_ARGUMENT, touching nothing, when the seeds carry less than
 * FIRST_SEED_MIN_BYTES: sending the same request again can never succeed.
 */
export function firstSeed(acc: Accumulator, seeds: readonly Uint8Array[], entropy: LocalEntropy = randomBytes): void {
  const total = seedBytes(seeds);
  if (total < FIRST_SEED_MIN_BYTES) {
    throw new ConnectError(
      `the first seed must carry at least ${FIRST_SEED_MIN_BYTES} bytes of seed material in all, got ${total}`,
      Code.InvalidArgument,
    );
  }
  const local = entropy(LOCAL_SECRET_BYTES);
  if (local.length !== LOCAL_SECRET_BYTES) throw new Error(`local entropy: asked for ${LOCAL_SECRET_BYTES} bytes, got ${local.length}`);
  const material = Buffer.concat([local, ...seeds]);
  acc.seedDirect(material);
  // The generator keeps only the hash; no copy of the secret stays behind.
  material.fill(0);
  local.fill(0);
}
