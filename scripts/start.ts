// `npm start`: the three services as separate processes on their default
// ports (controller 8081, fortuna 8082, gateway 8080), logs prefixed with the
// service name, all stopped together on Ctrl-C or when one of them dies.
// Upstreams start first so the gateway finds them at once; it copes if not.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { certPaths, DEFAULT_CERTS_DIR, ensureCerts } from "./certs.js";

const SERVICES = [
  { name: "controller", colour: 36, portVar: "CONTROLLER_PORT", port: 8081 },
  { name: "fortuna", colour: 35, portVar: "FORTUNA_PORT", port: 8082 },
  { name: "gateway", colour: 33, portVar: "GATEWAY_PORT", port: 8080 },
] as const;
// How long children get to finish in-flight work before they are killed.
const STOP_GRACE_MS = 15_000;

const only = process.argv.slice(2);
const chosen = SERVICES.filter((s) => only.length === 0 || only.includes(s.name));
const width = Math.max(...chosen.map((s) => s.name.length));
const tty = process.stdout.isTTY;

function prefixed(name: string, colour: number, stream: NodeJS.ReadableStream, out: NodeJS.WriteStream) {
  const tag = `${name.padEnd(width)} |`;
  const label = tty ? `\x1b[${colour}m${tag}\x1b[0m` : tag;
  createInterface({ input: stream }).on("line", (line) => out.write(`${label} ${line}\n`));
}

const children = new Map<string, ChildProcess>();
let stopping = false;
let exitCode = 0;

function stopAll(reason: string) {
  if (stopping) return;
  stopping = true;
  console.log(`stopping all services (${reason})`);
  for (const child of children.values()) child.kill("SIGTERM");
  setTimeout(() => {
    for (const child of children.values()) child.kill("SIGKILL");
  }, STOP_GRACE_MS).unref();
}

// PORT is per process, so the whole stack is moved with one variable per
// service (e.g. to run beside another copy); the gateway follows its upstreams.
// A plain PORT means the public one, the gateway's, as for one service.
const portOf = (s: (typeof SERVICES)[number]) => process.env[s.portVar] || (s.name === "gateway" ? process.env.PORT : undefined) || String(s.port);
const controllerPort = portOf(SERVICES[0]);
const fortunaPort = portOf(SERVICES[1]);

// Mutual TLS between the gateway and its upstreams from the first start: a
// local process without the gateway's certificate cannot seed Fortuna or read
// the chip (docs/security.md). The certificates are made once, under certs/.
const certsDir = process.env.CERTS_DIR ?? DEFAULT_CERTS_DIR;
const made = ensureCerts(certsDir);
if (made.length > 0) console.log(`made certificates for mutual TLS under ${certsDir}/ (${made.join(", ")})`);

function tlsEnv(name: string, env: NodeJS.ProcessEnv): void {
  const p = certPaths(certsDir, name);
  if (name === "gateway") {
    env.UPSTREAM_CA_FILE ??= p.ca;
    env.UPSTREAM_CERT_FILE ??= p.cert;
    env.UPSTREAM_KEY_FILE ??= p.key;
  } else {
    env.TLS_CERT_FILE ??= p.cert;
    env.TLS_KEY_FILE ??= p.key;
    env.TLS_CLIENT_CA_FILE ??= p.ca;
    env.TLS_ALLOWED_CLIENTS ??= "gateway";
  }
}

for (const svc of chosen) {
  const { name, colour } = svc;
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: portOf(svc) };
  tlsEnv(name, env);
  if (name === "gateway") {
    env.CONTROLLER_ADDR ??= `127.0.0.1:${controllerPort}`;
    env.FORTUNA_ADDR ??= `127.0.0.1:${fortunaPort}`;
  }
  const child = spawn(process.execPath, ["--import", "tsx", `${name}/src/main.ts`], {
    // The IPC channel is a lifeline: if this process dies, even by SIGKILL,
    // each child sees it close and shuts down (runtime/src/run.ts).
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env,
    // Own process group: a terminal's Ctrl-C reaches only us, and each child
    // gets exactly one SIGTERM from stopAll (a second signal means "now").
    detached: true,
  });
  children.set(name, child);
  prefixed(name, colour, child.stdout!, process.stdout);
  prefixed(name, colour, child.stderr!, process.stderr);
  child.on("exit", (code, signal) => {
    children.delete(name);
    if (!stopping) {
      exitCode = code || 1;
      console.error(`${name} exited (${signal ?? `code ${code}`}); stopping the others`);
      stopAll(`${name} exited`);
    }
    if (children.size === 0) process.exit(exitCode);
  });
}

// Children shut down gracefully on SIGTERM; we stay alive until they have.
process.on("SIGINT", () => stopAll("SIGINT"));
process.on("SIGTERM", () => stopAll("SIGTERM"));
