// Test helper for end-to-end suites: `npm start` (scripts/start.ts) as a user
// runs it, on free ports, with its database and certificates in a temporary
// directory, its output kept line by line (its own lines on stdout; each
// service's on stderr, prefixed with its name: "gateway    | {json}").
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { freePort } from "../../runtime/test/net.js";

/** How long npm start gets to stop its services on SIGINT before it is killed. */
const STOP_BOUND_MS = 30_000;

export interface Stack {
  ports: { gateway: number; controller: number; fortuna: number };
  dir: string;
  certsDir: string;
  /** Every line printed so far. */
  lines: string[];
  /** SIGINT (npm start stops its services), SIGKILL if it lingers; then the directory goes. */
  stop(): Promise<void>;
}

export async function startStack(env: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const ports = { gateway: await freePort(), controller: await freePort(), fortuna: await freePort() };
  const dir = mkdtempSync(join(tmpdir(), "lokey-e2e-"));
  const certsDir = join(dir, "certs");
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env: {
      ...process.env,
      GATEWAY_PORT: String(ports.gateway),
      CONTROLLER_PORT: String(ports.controller),
      FORTUNA_PORT: String(ports.fortuna),
      DB_PATH: join(dir, "gateway"),
      CERTS_DIR: certsDir,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on("line", (l) => lines.push(l));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_BOUND_MS))]);
      if (!done) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { ports, dir, certsDir, lines, stop };
}
