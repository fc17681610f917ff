import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, EnvReader } from "../../runtime/src/index.js";
import { readFortunaConfig } from "../src/config.js";

test("defaults: 24 h seed age, amplification factor 4, no self-seeding", () => {
  assert.deepEqual(readFortunaConfig(new EnvReader({})), { maxSeedAgeMs: 86_400_000, amplificationFactor: 4, seedFromOs: false });
});

test("values are read from the environment", () => {
  const env = new EnvReader({ FORTUNA_MAX_SEED_AGE_MS: "60000", AMPLIFICATION_FACTOR: "16", FORTUNA_SEED_FROM_OS: "true" });
  assert.deepEqual(readFortunaConfig(env), { maxSeedAgeMs: 60_000, amplificationFactor: 16, seedFromOs: true });
});

for (const [name, value] of [
  ["FORTUNA_MAX_SEED_AGE_MS", "soon"],
  ["FORTUNA_MAX_SEED_AGE_MS", "0"],
  ["FORTUNA_MAX_SEED_AGE_MS", String(2 ** 31)],
  ["AMPLIFICATION_FACTOR", "0"],
  ["AMPLIFICATION_FACTOR", "2.5"],
  ["FORTUNA_SEED_FROM_OS", "maybe"],
]) {
  test(`bad ${name}=${value} fails naming the variable`, () => {
    assert.throws(() => readFortunaConfig(new EnvReader({ [name]: value })), (e: unknown) => e instanceof ConfigError && e.variable === name);
  });
}
