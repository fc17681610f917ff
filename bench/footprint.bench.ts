// Resident memory of the stack as `npm start` runs it (compiled JS on plain
// node, scripts/start.ts), issue 14's footprint table: each service's VmRSS
// idle with both queues full, then at the end of LOAD_MS of `binary` 100000
// requests from 16 keep-alive connections (the load still running), and once
// more when the stack is idle again (queues refilled, then SETTLE_MS: what a
// process keeps after a load, once V8 has collected and
// runtime/src/heap-trim.ts has returned the freed heap); then the same for
// the one-process mode (`npm start -- --one-process`). The three processes'
// summed PSS is printed beside their RSS. The baseline is an idle bare `node`
// from the same run: the floor of any Node process on this machine.
//
// Lower is better, so run.ts's ratio is baseline / value, and a target of
// T MB is the ratio bare / T (on a machine where bare node is 41 MB, 250 MB
// is 0.164). The issue loads for a minute; 25 s keeps the bench short and was
// enough in docs/performance.md ("Footprint") for every process to reach the
// size it keeps under this load.
import { binaryLoad, bareNodeMb, pssMb, rssMb, startStack, untilQueuesFull, type Stack } from "./footprint-stack.js";
import type { BenchRow } from "./types.js";

const LOAD_MS = 25_000;
const CONNECTIONS = 16;
/**
 * Idle time after the refill before the last reading. V8 collects an idle
 * process's dead Buffers on its own within ~10-20 s here (its memory reducer),
 * and the trim follows a second later.
 */
const SETTLE_MS = 30_000;
const TARGET_MB = { processes: 250, oneProcess: 150 };

interface Reading {
  /** Service → RSS, MB. */
  rss: Map<string, number>;
  /** The processes' PSS, summed, MB. */
  pss: number;
}

interface Footprint {
  idle: Reading;
  loaded: Reading;
  settled: Reading;
}

async function measure(oneProcess: boolean): Promise<Footprint> {
  const stack: Stack = await startStack(oneProcess);
  try {
    const read = (): Reading => ({
      rss: new Map([...stack.pids].map(([name, pid]) => [name, rssMb(pid)])),
      pss: [...stack.pids.values()].reduce((sum, pid) => sum + pssMb(pid), 0),
    });
    const idle = read();
    const load = await binaryLoad(stack.gatewayPort, CONNECTIONS, LOAD_MS);
    const loaded = read();
    await untilQueuesFull(stack.gatewayPort);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const settled = read();
    process.stderr.write(
      `  ${oneProcess ? "one process" : "three processes"}: ${load.requests} requests (${(load.bytes / LOAD_MS / 1000).toFixed(1)} MB/s), ${load.failures} failed\n`,
    );
    return { idle, loaded, settled };
  } finally {
    await stack.stop();
  }
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

export default async function (): Promise<BenchRow[]> {
  const bare = await bareNodeMb();
  const row = (name: string, value: number, targetMb?: number): BenchRow => ({
    name: `footprint: ${name}${targetMb ? ` (target <= ${targetMb} MB)` : ""}`,
    value,
    unit: "MB",
    baselineName: "bare node, idle",
    baseline: bare,
    lowerIsBetter: true,
    ...(targetMb && { target: Number((bare / targetMb).toFixed(3)) }),
  });
  const load = `at the end of ${LOAD_MS / 1000} s binary 100000 x${CONNECTIONS}`;
  const settled = `idle again after that load (queues full, ${SETTLE_MS / 1000} s)`;
  const rows: BenchRow[] = [];

  const three = await measure(false);
  const readings = (f: Footprint) => [["idle, queues full", f.idle], [load, f.loaded], [settled, f.settled]] as const;
  for (const [when, r] of readings(three)) for (const [name, mb] of r.rss) rows.push(row(`${name} RSS ${when}`, mb));
  for (const [when, r] of readings(three)) rows.push(row(`3 processes, total RSS ${when}`, total(r.rss), TARGET_MB.processes));
  // What the stack really holds: the node binary's shared pages once (no target; the issue's figure is RSS).
  for (const [when, r] of readings(three)) rows.push(row(`3 processes, total PSS ${when}`, r.pss));

  const one = await measure(true);
  for (const [when, r] of readings(one)) rows.push(row(`one process, RSS ${when}`, total(r.rss), TARGET_MB.oneProcess));
  return rows;
}
