// Fortuna's costs next to what they are built on, measured in the same run:
// - the generator's 1 MiB requests against a bare aes-256-ctr stream making
//   the same number of bytes (the target: >= 0.9; fortuna-generator.ts);
// - the gRPC stream to a local grpc-js client against the generator alone
//   making the same 64 KiB requests;
// - CPU while a stream's reader stalls, against an idle process.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { FortunaService } from "../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient, silentLogger, startServer } from "../runtime/src/index.js";
import { FortunaGenerator, type BlockEngine } from "../fortuna/src/generator.js";
import { compareWithCtr, type Comparison } from "./fortuna-generator.js";
import { createFortuna } from "../fortuna/src/service.js";
import type { BenchRow } from "./types.js";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// A full collection between measurement phases (the flag applies to contexts created after it).
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const onlyGenerator = process.env.FORTUNA_BENCH_GENERATOR_ONLY === "1";

/** Bytes per second of `fn` (which makes `bytes` per call), over about `ms`. */
function rate(fn: () => unknown, bytes: number, ms: number): number {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    fn();
    n++;
    now = process.hrtime.bigint();
  }
  return (n * bytes) / (Number(now - start) / 1e9);
}

const mbps = (bytesPerSecond: number) => bytesPerSecond / 1e6;

// Each 1 MiB buffer is malloc'd, and glibc hands freed heap back to the kernel
// once its top passes the trim threshold. V8 frees many buffers per collection,
// so the next ones fault their pages in again (3-4 us a page here), on either
// side and by chance: 5 to 250 faults per call, depending on heap layout. The
// target row therefore runs both sides in a child whose glibc keeps freed heap;
// the row after it is this process, defaults and all, with the faults shown.
const KEEP_FREED_HEAP = "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456";

function inChildKeepingFreedHeap(engine: BlockEngine): Comparison {
  const script = fileURLToPath(new URL("./fortuna-generator.ts", import.meta.url));
  const r = spawnSync(process.execPath, ["--import", "tsx", script, engine], {
    env: { ...process.env, GLIBC_TUNABLES: KEEP_FREED_HEAP },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`fortuna-generator.ts ${engine} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Comparison;
}

function generatorRow(name: string, c: Comparison, target?: number): BenchRow {
  return {
    name,
    value: mbps(c.fortuna),
    unit: "MB/s",
    baselineName: "createCipheriv('aes-256-ctr') 1 MiB + 32 B",
    baseline: mbps(c.bare),
    ...(target === undefined ? {} : { target }),
  };
}

const faultsNote = (c: Comparison) => `${c.fortunaFaults.toFixed(0)} vs ${c.bareFaults.toFixed(0)} page faults per call`;

function generatorRows(): BenchRow[] {
  // The target is for the engine a normal install runs; the portable
  // one (no native build) is shown for what it costs.
  const kept = inChildKeepingFreedHeap("native");
  const here = compareWithCtr("native");
  const portable = inChildKeepingFreedHeap("portable");
  return [
    generatorRow("FortunaGenerator.pseudoRandomData 1 MiB (glibc keeps freed heap, both sides)", kept, 0.9),
    generatorRow(`same, default malloc (${faultsNote(here)})`, here),
    generatorRow("same, portable engine (node:crypto ECB only), glibc keeps freed heap", portable),
  ];
}

/** Bytes per second a grpc-js client reads from StreamRandom at `port` over about `ms`. */
async function streamRate(port: number, chunk: number, ms: number): Promise<number> {
  const client = createGrpcClient(FortunaService, `127.0.0.1:${port}`);
  try {
    // Warm the connection and the JIT.
    let n = 0;
    for await (const _ of client.streamRandom({ chunkSize: chunk })) if (++n === 20) break;
    let bytes = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(ms) * 1_000_000n;
    for await (const m of client.streamRandom({ chunkSize: chunk })) {
      bytes += m.data.length;
      if (process.hrtime.bigint() >= end) break;
    }
    return bytes / (Number(process.hrtime.bigint() - start) / 1e9);
  } finally {
    client.close();
  }
}

async function streamRows(): Promise<BenchRow[]> {
  const chunk = 65536;
  const fortuna = createFortuna({ maxSeedAgeMs: 3600_000, amplificationFactor: 4 });
  fortuna.accumulator.seedDirect(randomBytes(64));
  const server = await startServer({ name: "fortuna-bench", port: 0, host: "127.0.0.1", log: silentLogger, bindings: [fortuna.binding], health: fortuna.health });
  const client = createGrpcClient(FortunaService, `127.0.0.1:${server.port}`);
  try {
    const streamed = await streamRate(server.port, chunk, 3000);

    const g = new FortunaGenerator();
    g.reseed(randomBytes(32));
    const alone = median([0, 1, 2].map(() => rate(() => g.pseudoRandomData(chunk), chunk, 500)));

    // A reader that stops: the server should go idle. Compare with no stream at all.
    const cpuMsPerSecond = async (ms: number) => {
      gc();
      await new Promise((r) => setTimeout(r, 200));
      const before = process.cpuUsage();
      await new Promise((r) => setTimeout(r, ms));
      const d = process.cpuUsage(before);
      return (d.user + d.system) / 1000 / (ms / 1000);
    };
    const idle = await cpuMsPerSecond(1000);
    const it = client.streamRandom({ chunkSize: chunk })[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 300)); // let the buffers fill
    const stalled = await cpuMsPerSecond(1000);
    await it.return?.(undefined);

    return [
      {
        name: "gRPC StreamRandom to a local grpc-js client (64 KiB chunks)",
        value: mbps(streamed),
        unit: "MB/s",
        baselineName: "FortunaGenerator alone, 64 KiB requests",
        baseline: mbps(alone),
      },
      {
        name: "CPU while a StreamRandom reader stalls",
        value: stalled,
        unit: "ms CPU/s",
        baselineName: "same process, no stream",
        baseline: idle,
        lowerIsBetter: true,
      },
    ];
  } finally {
    client.close();
    await server.close();
  }
}

export default async function (): Promise<BenchRow[]> {
  return [
    ...generatorRows(),
    ...(onlyGenerator ? [] : await streamRows()),
  ];
}
