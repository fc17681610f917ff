// The Fortuna service process (port 8082). It starts unseeded and refuses
// output until the gateway seeds it over gRPC with TRNG samples; it never
// seeds itself from the clock or anything else weak.
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { randomBytes } from "node:crypto";
import { runService } from "../../runtime/src/index.js";
import { readFortunaConfig } from "./config.js";
import { nativeBlocksError } from "./native-blocks.js";
import { createFortuna } from "./service.js";

await runService("fortuna", 8082, async ({ env, log }) => {
  const config = readFortunaConfig(env);
  const fortuna = createFortuna({ ...config, log });
  if (config.seedFromOs) {
    // Opt-in for standalone use: 64 bytes of the kernel CSPRNG as the first seed,
    // wiped once they are hashed into the key.
    const seed = randomBytes(64);
    fortuna.accumulator.seedDirect(seed);
    seed.fill(0);
    fortuna.seedHealth.refresh();
    log.warn("seeded from the OS CSPRNG (FORTUNA_SEED_FROM_OS=true), not from the TRNG");
  } else {
    log.info("waiting for the first seed (the gateway seeds Fortuna at start)");
  }
  const engine = fortuna.accumulator.generator.engine;
  log.info("configured", { maxSeedAgeMs: config.maxSeedAgeMs, amplificationFactor: config.amplificationFactor, engine });
  if (engine !== "native") {
    // Same bytes, slower: the portable path spends an extra pass per request (docs/performance.md).
    log.warn("the native AES block generator did not load; using the portable node:crypto path", { reason: nativeBlocksError });
  }
  return { bindings: [fortuna.binding], health: fortuna.health, onClose: () => fortuna.close() };
}, { defaultHost: "127.0.0.1", services: [FortunaService] }); // only the gateway calls upstreams (docs/security.md)
