// Helpers for footprint.bench.ts: the stack started as `npm start` starts it
// (compiled JS on plain node), each service's resident set read from
// /proc/<pid>/status, and the load the issue measures with.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../runtime/test/net.js";
import { childrenOf } from "../test/e2e/procfs.js";

/** Longest wait for the stack to start and both queues to fill (the TRNG queue fills at the emulated chip's rate). */
const FILL_BOUND_MS = 240_000;

/** A "<field>: <n> kB" line of /proc/<pid>/<file>, in MB (10^6 bytes). */
function procMb(pid: number, file: string, field: string): number {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/${file}`, "utf8"))?.[1];
  if (kb === undefined) throw new Error(`no ${field} for process ${pid}`);
  return (Number(kb) * 1024) / 1e6;
}

/** VmRSS of a process in MB. */
export const rssMb = (pid: number): number => procMb(pid, "status", "VmRSS");

/**
 * Proportional set size in MB: each resident page divided by the number of
 * processes mapping it, so the node binary's pages, which every service maps
 * and the kernel holds once, count once across the stack.
 */
export const pssMb = (pid: number): number => procMb(pid, "smaps_rollup", "Pss");

/** The resident set of an idle bare `node` process: the floor every service process starts from. */
export async function bareNodeMb(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "process.stdout.write('up'); setInterval(() => {}, 1 << 30)"], { stdio: ["ignore", "pipe", "inherit"] });
  await once(child.stdout!, "data");
  await new Promise((r) => setTimeout(r, 500)); // let start-up garbage settle, as services idle for longer
  const mb = rssMb(child.pid!);
  child.kill();
  return mb;
}

export interface Stack {
  gatewayPort: number;
  /** Service (or "lokey" for one process) → the pid that owns its port(s). */
  pids: Map<string, number>;
  stop(): Promise<void>;
}

interface QueueStatus {
  queue_current: number;
  queue_capacity: number;
}

async function queuesFull(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/status`);
    const s = (await res.json()) as { trng: QueueStatus; fortuna: QueueStatus };
    return [s.trng, s.fortuna].every((q) => q.queue_capacity > 0 && q.queue_current >= q.queue_capacity);
  } catch {
    return false;
  }
}

/** Resolves once both of the gateway's queues are full; throws after FILL_BOUND_MS or once `exited()`. */
export async function untilQueuesFull(port: number, exited: () => boolean = () => false): Promise<void> {
  const end = Date.now() + FILL_BOUND_MS;
  while (!(await queuesFull(port))) {
    if (exited()) throw new Error("the stack exited");
    if (Date.now() > end) throw new Error(`the stack did not fill its queues within ${FILL_BOUND_MS} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** `npm start` (optionally `-- --one-process`) on free ports with a fresh database; resolves once both queues are full. */
export async function startStack(oneProcess: boolean, extraEnv: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "lokey-footprint-"));
  const ports = { GATEWAY_PORT: await freePort(), CONTROLLER_PORT: await freePort(), FORTUNA_PORT: await freePort() };
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", ...(oneProcess ? ["--one-process"] : [])], {
    env: { ...process.env, ...extraEnv, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      PORT: "", DB_PATH: join(dir, "db"), CERTS_DIR: join(dir, "certs"), LOG_LEVEL: "error" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (b) => (output += b));
  child.stderr!.on("data", (b) => (output += b));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await untilQueuesFull(ports.GATEWAY_PORT, () => child.exitCode !== null);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}:\n${output.slice(-2000)}`);
  }
  const pids = new Map<string, number>();
  for (const c of childrenOf(child.pid!)) {
    const name = /(\w+)\/src\/main\.bundle\.js|scripts\/(one-process)\.js/.exec(c.cmd);
    if (name) pids.set(name[1] ?? "lokey", c.pid);
  }
  return { gatewayPort: ports.GATEWAY_PORT, pids, stop };
}

export interface LoadResult {
  requests: number;
  bytes: number;
  failures: number;
}

/** POST /api/v1/data {"format":"binary","limit":100000,"source":"fortuna"} from `connections` keep-alive connections for `ms`. */
export async function binaryLoad(port: number, connections: number, ms: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const body = JSON.stringify({ format: "binary", limit: 100000, source: "fortuna" });
  const result: LoadResult = { requests: 0, bytes: 0, failures: 0 };
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(
        { host: "127.0.0.1", port, path: "/api/v1/data", method: "POST", agent, headers: { "Content-Type": "application/json", "Content-Length": body.length } },
        (res) => {
          res.on("data", (c: Buffer) => (result.bytes += c.length));
          res.on("end", () => (res.statusCode === 200 ? result.requests++ : result.failures++, resolve()));
        },
      );
      req.on("error", () => (result.failures++, resolve()));
      req.end(body);
    });
  const end = Date.now() + ms;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (Date.now() < end) await one();
  }));
  agent.destroy();
  return result;
}
