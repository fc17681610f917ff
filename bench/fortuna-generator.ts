// Fortuna's generator against a bare aes-256-ctr stream making the same bytes,
// in alternating sustained phases of one process. fortuna.bench.ts runs it in
// this process and, as a script, in a child whose glibc keeps freed heap:
//   node --import tsx bench/fortuna-generator.ts native|portable  (prints JSON)
import { createCipheriv, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { FortunaGenerator, type BlockEngine } from "../fortuna/src/generator.js";

const MIB = 1 << 20;

export interface Comparison {
  /** Bytes per second. */
  fortuna: number;
  bare: number;
  /** Minor page faults per call: memory the allocator gave back and took again. */
  fortunaFaults: number;
  bareFaults: number;
}

export function compareWithCtr(engine: BlockEngine): Comparison {
  const g = new FortunaGenerator({ engine });
  g.reseed(randomBytes(32));
  const ctr = createCipheriv("aes-256-ctr", randomBytes(32), randomBytes(16));
  // The baseline encrypts a written buffer: a fresh Buffer.alloc is calloc'd
  // memory still mapped to the kernel's shared zero page, whose reads always
  // hit cache and flatter the baseline.
  const zeros = Buffer.allocUnsafeSlow(MIB).fill(0);
  // Same bytes, same call pattern: 1 MiB of output, then the 32 bytes Fortuna
  // spends on its rekey.
  const rekeySized = Buffer.allocUnsafeSlow(32).fill(0);
  const sides = {
    fortuna: () => g.pseudoRandomData(MIB),
    bare: () => {
      const out = ctr.update(zeros);
      ctr.update(rekeySized);
      return out;
    },
  };
  const ns = { fortuna: 0n, bare: 0n };
  const calls = { fortuna: 0, bare: 0 };
  const faults = { fortuna: 0, bare: 0 };
  // Alternating sustained phases, so machine noise hits both sides alike and
  // each side runs in its own steady state (allocator and GC included).
  for (let round = 0; round < 5; round++) {
    for (const side of ["bare", "fortuna"] as const) {
      const fn = sides[side];
      for (let i = 0; i < 10; i++) fn();
      const faultsBefore = process.resourceUsage().minorPageFault;
      const start = process.hrtime.bigint();
      const end = start + 800_000_000n;
      let now = start;
      while (now < end) {
        fn();
        calls[side]++;
        now = process.hrtime.bigint();
      }
      ns[side] += now - start;
      faults[side] += process.resourceUsage().minorPageFault - faultsBefore;
    }
  }
  const perSecond = (side: "fortuna" | "bare") => (calls[side] * MIB) / (Number(ns[side]) / 1e9);
  return {
    fortuna: perSecond("fortuna"),
    bare: perSecond("bare"),
    fortunaFaults: faults.fortuna / calls.fortuna,
    bareFaults: faults.bare / calls.bare,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const engine = process.argv[2];
  if (engine !== "native" && engine !== "portable") throw new Error("usage: fortuna-generator.ts native|portable");
  console.log(JSON.stringify(compareWithCtr(engine)));
}
