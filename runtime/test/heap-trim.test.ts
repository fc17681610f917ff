// runtime/src/heap-trim.ts in a process of its own, set up as npm start sets
// up a service (scripts/start.ts's malloc settings): 64 KiB Buffers freed among
// small live blocks stay resident until a trim gives them back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const MODULE = fileURLToPath(new URL("../src/heap-trim.ts", import.meta.url));
/** Freed in each child: 400 messages of 64 KiB, the Fortuna stream's size. */
const FREED_MB = (400 * 65536) / 1e6;

// Fills the C heap with 64 KiB blocks, every other one kept alive (as a
// service's longer-lived allocations sit among its messages), frees the rest
// and lets V8 collect them; reads the process's anonymous resident memory
// (the C heap's arenas and V8's heap, collected before each reading so that
// V8's part holds still) at its peak, once they are freed, and after `step`.
const child = (step: string) => `
  import { readFileSync } from "node:fs";
  import * as trim from ${JSON.stringify(MODULE)};
  const anonMb = () => (Number(/^RssAnon:\\s+(\\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))[1]) * 1024) / 1e6;
  let freedLater = [];
  const kept = [];
  for (let i = 0; i < 400; i++) {
    freedLater.push(Buffer.allocUnsafeSlow(65536).fill(i));
    kept.push(Buffer.allocUnsafeSlow(65536).fill(i));
  }
  globalThis.gc();
  const peak = anonMb();
  freedLater = undefined;
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 50)); // V8 frees the Buffers' memory on a worker thread
  const freed = anonMb();
  ${step}
  console.log(JSON.stringify({ peak, freed, after: anonMb(), kept: kept.length, stats: trim.heapTrimStats() }));
`;

interface Reading {
  peak: number;
  freed: number;
  after: number;
  stats: { trims: number; releasedBytes: number };
}

function run(step: string): Reading {
  const out = spawnSync(process.execPath, ["--import", "tsx", "--expose-gc", "--input-type=module", "-e", child(step)], {
    env: { ...process.env, MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" },
    encoding: "utf8",
  });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout.trim().split("\n").pop()!);
}

const show = (r: Reading) => `anonymous memory ${r.peak} MB at its peak, ${r.freed} MB once freed, ${r.after} MB after`;

test("freed 64 KiB Buffers stay resident without a trim", () => {
  const r = run("");
  assert.ok(r.peak - r.after < FREED_MB / 4, show(r));
});

test("trimHeap gives them back", () => {
  const r = run(`if (!trim.trimHeap()) throw new Error("nothing went back");`);
  assert.ok(r.peak - r.after > FREED_MB / 2, `less than half of ${FREED_MB} MB went back: ${show(r)}`);
});

test("startHeapTrimming trims once collections pause, and counts what went back", () => {
  const r = run(`
    const state = trim.startHeapTrimming(100, 60_000);
    if (state.unavailable) throw new Error(state.unavailable);
    globalThis.gc(); // a collection the trimmer sees: its trim follows 100 ms after the last one
    // A liveness bound for a loaded machine, not a timing assumption.
    for (const end = Date.now() + 60_000; trim.heapTrimStats().trims === 0; ) {
      if (Date.now() > end) throw new Error("no trim within 60 s of a collection");
      await new Promise((r) => setTimeout(r, 20));
    }
  `);
  assert.ok(r.peak - r.after > FREED_MB / 2, show(r));
  assert.equal(r.stats.trims, 1);
  assert.ok(r.stats.releasedBytes / 1e6 > FREED_MB / 2, `counted ${r.stats.releasedBytes} bytes`);
});
