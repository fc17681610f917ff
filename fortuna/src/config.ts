// Fortuna's settings, read once at start-up; a bad value stops the service
// with the variable's name.
import type { EnvReader } from "../../runtime/src/index.js";

export interface FortunaConfig {
  /** Health turns NOT_SERVING when the last reseed is older than this (default 24 h). */
  maxSeedAgeMs: number;
  /** Amplify's output per seed byte when the request gives no size (docs/reference/original-design.md, AMPLIFICATION_FACTOR). */
  amplificationFactor: number;
  /** Standalone use only: seed once from the OS CSPRNG at start. Off: the gateway seeds us. */
  seedFromOs: boolean;
}

// setTimeout's longest delay (2^31 - 1 ms), so the staleness timer needs no chaining in practice.
const MAX_SEED_AGE_MS = 2 ** 31 - 1;

export function readFortunaConfig(env: EnvReader): FortunaConfig {
  return {
    maxSeedAgeMs: env.int("FORTUNA_MAX_SEED_AGE_MS", 24 * 60 * 60 * 1000, { min: 1000, max: MAX_SEED_AGE_MS }),
    amplificationFactor: env.int("AMPLIFICATION_FACTOR", 4, { min: 1, max: 1 << 20 }),
    seedFromOs: env.bool("FORTUNA_SEED_FROM_OS", false),
  };
}
