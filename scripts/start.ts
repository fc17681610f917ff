// `npm start`: the three services as separate processes on their default
// ports (controller 8081, fortuna 8082, gateway 8080), logs prefixed with the
// service name, all stopped together on Ctrl-C or when one of them dies.
// Upstreams start first so the gateway finds them at once; it copes if not.
//
// The services run as compiled JavaScript on plain `node` (scripts/build.ts,
// rebuilt here whenever a source changed): tsx in each process would cost
// ~35 MB apiece (docs/performance.md, "Footprint"). `npm start -- --one-process`
// (or LOKEY_ONE_PROCESS=true) runs all three in one process instead
// (scripts/one-process.ts); service names as arguments start only those.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
// config.js alone: the runtime's index would load every RPC library into the supervisor.
import { ConfigError, EnvReader } from "../runtime/src/config.js";
import { ensureBuild, serviceBundle } from "./build.js";
import { ensureCerts } from "./certs.js";
import { certsDirOf, isServiceName, SERVICES, serviceEnv } from "./stack.js";

// How long children get to finish in-flight work before they are killed.
const STOP_GRACE_MS = 15_000;
const ONE_PROCESS_FLAG = "--one-process";
/**
 * Memory settings for each service process, measured in docs/performance.md
 * ("Footprint"): V8 sized for a small heap (1 MiB semi-spaces instead of up to
 * 16, and --optimize-for-size, which collects sooner, dead Buffers included;
 * node takes the latter only on its command line), and glibc's malloc kept from
 * holding freed native memory: two arenas instead of eight per core, and its
 * mmap threshold pinned at its initial 128 KiB instead of sliding up to 32 MiB,
 * so large freed blocks go back to the system. MALLOC_* already set win.
 */
const NODE_FLAGS = ["--max-semi-space-size=1", "--optimize-for-size"];
const MALLOC_TUNING = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" };

function fail(message: string): never {
  console.error(`npm start: ${message}`);
  process.exit(2);
}

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== ONE_PROCESS_FLAG && !isServiceName(a));
if (unknown.length > 0) fail(`unknown argument ${unknown.join(", ")}; use service names (${SERVICES.map((s) => s.name).join(", ")}) and ${ONE_PROCESS_FLAG}`);
const only = args.filter(isServiceName);
let oneProcess = args.includes(ONE_PROCESS_FLAG);
try {
  oneProcess ||= new EnvReader(process.env).bool("LOKEY_ONE_PROCESS", false);
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}
const chosen = SERVICES.filter((s) => only.length === 0 || only.includes(s.name));

const certsDir = certsDirOf(process.env);
const made = ensureCerts(certsDir);
if (made.length > 0) console.log(`made certificates for mutual TLS under ${certsDir}/ (${made.join(", ")})`);

const build = await ensureBuild().catch((err: unknown) => fail(`compiling the services failed: ${err instanceof Error ? err.message : String(err)}`));
if (build.built) console.log(`compiled the services to ${build.dir}`);

// One child per service, or a single one hosting them all.
const units = oneProcess
  ? [{ name: "lokey", colour: 32, script: "scripts/one-process.js", args: chosen.map((s) => s.name), env: process.env }]
  : chosen.map((s) => ({ name: s.name, colour: s.colour, script: serviceBundle(s.name), args: [], env: serviceEnv(s, process.env) }));

const width = Math.max(...units.map((u) => u.name.length));
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

for (const { name, colour, script, args: unitArgs, env } of units) {
  const child = spawn(process.execPath, [...NODE_FLAGS, join(build.dir, script), ...unitArgs], {
    // The IPC channel is a lifeline: if this process dies, even by SIGKILL,
    // each child sees it close and shuts down (runtime/src/run.ts).
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: { ...MALLOC_TUNING, ...env },
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
