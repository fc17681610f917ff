// `npm start` as a supervisor: PORT moves the public port (the gateway's),
// and when the supervisor itself is killed (SIGKILL, no chance to clean up)
// its three services notice the lost IPC channel and stop.
import { after, test } from "node:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../runtime/test/net.js";
import { until as poll } from "./poll.js";

// Liveness bounds, not performance targets: generous for a loaded 2-core machine.
const BOUND_MS = 90_000;

const dir = mkdtempSync(join(tmpdir(), "lokey-supervisor-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

const until = (what: string, probe: () => Promise<boolean>, output: () => string) =>
  poll(what, async () => ((await probe()) ? true : undefined), BOUND_MS, output);

test("PORT is the gateway's port, and killing npm start with SIGKILL stops all three services", async () => {
  const ports = { gateway: await freePort(), controller: await freePort(), fortuna: await freePort() };
  const stack = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env: { ...process.env, PORT: String(ports.gateway), CONTROLLER_PORT: String(ports.controller), FORTUNA_PORT: String(ports.fortuna),
      GATEWAY_PORT: "", DB_PATH: join(dir, "db"), CERTS_DIR: join(dir, "certs") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  stack.stdout!.on("data", (b) => (output += b));
  stack.stderr!.on("data", (b) => (output += b));
  try {
    await until("the gateway answering on PORT", async () => {
      const res = await fetch(`http://127.0.0.1:${ports.gateway}/api/v1/health`).catch(() => undefined);
      return res !== undefined;
    }, () => output);
    // The gateway may answer before an upstream has finished starting.
    for (const [name, port] of Object.entries(ports)) await until(`${name} listening`, () => listening(port), () => output);
    stack.kill("SIGKILL");
    for (const [name, port] of Object.entries(ports)) await until(`${name} stopping`, async () => !(await listening(port)), () => `${name}\n${output}`);
  } finally {
    if (stack.exitCode === null) stack.kill("SIGKILL");
  }
});
