// The three real services as separate processes on loopback (plain gRPC
// between them, as upstreams on this machine may), for what only whole
// processes show: the gateway's own disk writes (/proc/<pid>/io). Used by
// idle-wear.test.ts, test/e2e/stall.test.ts and bench/gateway-store.bench.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../../../runtime/test/net.js";

/** Issue 14's budget: at most 1 KB/s of disk writes, averaged, while idle. */
export const IDLE_WRITE_BYTES_PER_S = 1024;

export interface QueueState {
  queue_current: number;
  queue_capacity: number;
  total_generated: string | number;
}

export interface Services {
  /** The gateway's base URL. */
  base: string;
  gatewayPid: number;
  /** Each service's process id (e.g. to stop one with SIGSTOP). */
  pids: { controller: number; fortuna: number; gateway: number };
  /** What the services logged (warnings and errors). */
  output(): string;
  /** Polls `probe` until true, failing after `boundMs` with the services' output. */
  until(what: string, probe: () => Promise<boolean>, boundMs: number): Promise<void>;
  queues(): Promise<{ trng: QueueState; fortuna: QueueState }>;
  /** Both queues hold as many items as they can. */
  full(): Promise<boolean>;
  /** Kills the processes and removes the database. */
  stop(): Promise<void>;
}

/** Bytes the process has caused to be written to storage (counted when it dirties the page cache). */
export function writeBytes(pid: number): number {
  const m = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
  if (!m) throw new Error(`no write_bytes in /proc/${pid}/io`);
  return Number(m[1]);
}

/** Starts controller, Fortuna and gateway (with `gatewayEnv`, e.g. queue sizes) on free ports and a fresh database. */
export async function startServices(gatewayEnv: Record<string, string>): Promise<Services> {
  const dir = mkdtempSync(join(tmpdir(), "lokey-services-"));
  const children: ChildProcess[] = [];
  let output = "";
  const start = (service: string, env: Record<string, string>): ChildProcess => {
    const child = spawn(process.execPath, ["--import", "tsx", `${service}/src/main.ts`], {
      env: { ...process.env, LOG_LEVEL: "warn", HOST: "127.0.0.1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (b) => (output += `${service}: ${b}`));
    child.stderr!.on("data", (b) => (output += `${service}: ${b}`));
    children.push(child);
    return child;
  };
  const ports = { controller: await freePort(), fortuna: await freePort(), gateway: await freePort() };
  const controller = start("controller", { PORT: String(ports.controller) });
  const fortuna = start("fortuna", { PORT: String(ports.fortuna) });
  const gateway = start("gateway", {
    PORT: String(ports.gateway),
    CONTROLLER_ADDR: `127.0.0.1:${ports.controller}`,
    FORTUNA_ADDR: `127.0.0.1:${ports.fortuna}`,
    DB_PATH: join(dir, "db"),
    ...gatewayEnv,
  });
  const base = `http://127.0.0.1:${ports.gateway}`;
  const queues = async () => (await (await fetch(`${base}/api/v1/status`)).json()) as { trng: QueueState; fortuna: QueueState };
  return {
    base,
    gatewayPid: gateway.pid!,
    pids: { controller: controller.pid!, fortuna: fortuna.pid!, gateway: gateway.pid! },
    output: () => output,
    async until(what, probe, boundMs) {
      const end = Date.now() + boundMs;
      while (!(await probe().catch(() => false))) {
        if (Date.now() > end) throw new Error(`${what} did not happen within ${boundMs} ms; output:\n${output.slice(-3000)}`);
        await sleep(100);
      }
    },
    queues,
    async full() {
      const q = await queues();
      return [q.trng, q.fortuna].every((s) => s.queue_capacity > 0 && s.queue_current === s.queue_capacity);
    },
    async stop() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Bytes per second the gateway wrote to storage over `windowMs` of whatever the services are doing. */
export async function gatewayWriteRate(s: Services, windowMs: number): Promise<{ bytes: number; seconds: number }> {
  const before = writeBytes(s.gatewayPid);
  const t0 = performance.now();
  await sleep(windowMs);
  return { bytes: writeBytes(s.gatewayPid) - before, seconds: (performance.now() - t0) / 1000 };
}
