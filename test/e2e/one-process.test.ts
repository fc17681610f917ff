// `npm start -- --one-process`: the three services in a single process on
// their usual ports, compiled JS on plain node, still talking to each other
// over TCP (gRPC with mutual TLS), and serving data through the gateway.
// LOKEY_ONE_PROCESS is validated like every other variable.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { freePort } from "../../runtime/test/net.js";
import { until } from "./poll.js";
import { childrenOf, tcpSocketsOf, type ProcessInfo } from "./procfs.js";

// Liveness bounds, not performance targets: generous for a loaded 2-core machine.
const STARTUP_BOUND_MS = 120_000;
const STOP_BOUND_MS = 30_000;

const ports = { gateway: 0, controller: 0, fortuna: 0 };
let dir: string;
let stack: ChildProcess;
let output = "";
let exited: Promise<number | null>;

const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => until(what, probe, STARTUP_BOUND_MS, () => `output:\n${output}`);

before(async () => {
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  dir = mkdtempSync(join(tmpdir(), "lokey-one-process-"));
  stack = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", "--one-process"], {
    env: {
      ...process.env,
      GATEWAY_PORT: String(ports.gateway),
      CONTROLLER_PORT: String(ports.controller),
      FORTUNA_PORT: String(ports.fortuna),
      PORT: "",
      DB_PATH: join(dir, "db"),
      CERTS_DIR: join(dir, "certs"),
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  stack.stdout!.on("data", (b) => (output += b));
  stack.stderr!.on("data", (b) => (output += b));
  exited = new Promise((resolve) => stack.once("exit", (code) => resolve(code)));
});

after(() => {
  if (stack.exitCode === null) stack.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/** The one process that hosts the services: npm start's only node child (tsx may keep an esbuild service beside it). */
function host(): ProcessInfo {
  const children = childrenOf(stack.pid!).filter((c) => c.cmd.startsWith(process.execPath));
  assert.equal(children.length, 1, `one node child of npm start, got ${JSON.stringify(children)}`);
  return children[0];
}

describe("npm start -- --one-process", () => {
  test("the gateway serves both sources, fed and seeded by its upstreams", async () => {
    for (const source of ["fortuna", "trng"]) {
      const values = await waitFor(`${source} data`, async () => {
        const res = await fetch(`http://127.0.0.1:${ports.gateway}/api/v1/data`, { method: "POST", body: JSON.stringify({ format: "uint8", limit: 64, source }) });
        return res.status === 200 ? ((await res.json()) as number[]) : undefined;
      });
      assert.equal(values.length, 64);
    }
    const status = (await (await fetch(`http://127.0.0.1:${ports.gateway}/api/v1/status`)).json()) as Record<string, { connected: boolean; origin: string }>;
    assert.equal(status.trng.connected, true);
    assert.equal(status.fortuna.connected, true);
    assert.equal(status.fortuna.origin, "fortuna");
  });

  test("health Check is SERVING on all three ports, the upstreams over TLS", async () => {
    const ca = readFileSync(join(dir, "certs", "ca.crt"));
    for (const [name, port] of Object.entries(ports)) {
      const tls = name !== "gateway";
      const transport = createGrpcTransport({
        baseUrl: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
        // An IP address is no TLS server name (RFC 6066 §3); every LoKey certificate names localhost.
        ...(tls && { nodeOptions: { ca, servername: "localhost" } }),
      });
      const health = createClient(Health, transport);
      await waitFor(`${name} SERVING`, async () => ((await health.check({ service: "" })).status === Status.SERVING ? true : undefined));
    }
  });

  test("one plain-node process owns the three ports, and the gateway reaches its upstreams over TCP", () => {
    const { pid, cmd } = host();
    assert.match(cmd, /scripts\/one-process\.js/);
    assert.doesNotMatch(cmd, /tsx/, "compiled JS, not tsx");
    const sockets = tcpSocketsOf(pid);
    for (const [name, port] of Object.entries(ports)) {
      assert.ok(sockets.some((s) => s.state === "LISTEN" && s.localPort === port), `${name} port ${port} listens in process ${pid}`);
    }
    // Both ends of each upstream link are in this process: the gateway's
    // client socket towards the port, and the accepted one on it.
    for (const name of ["controller", "fortuna"] as const) {
      const port = ports[name];
      assert.ok(sockets.some((s) => s.state === "ESTABLISHED" && s.remotePort === port), `a connection to ${name} (${port})`);
      assert.ok(sockets.some((s) => s.state === "ESTABLISHED" && s.localPort === port), `${name} (${port}) accepted it`);
    }
  });

  test("SIGTERM stops all three and exits 0", async () => {
    stack.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), STOP_BOUND_MS))]);
    assert.equal(code, 0, `exit ${code}; output:\n${output.slice(-3000)}`);
    for (const [name, port] of Object.entries(ports)) assert.equal(await listening(port), false, `${name} still listens on ${port}`);
  });
});

test("a bad LOKEY_ONE_PROCESS or an unknown argument stops npm start, naming it", () => {
  const run = (args: string[], env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ["--import", "tsx", "scripts/start.ts", ...args], { env: { ...process.env, ...env }, encoding: "utf8" });
  const bad = run([], { LOKEY_ONE_PROCESS: "perhaps" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /LOKEY_ONE_PROCESS: must be true or false, got "perhaps"/);
  const unknown = run(["--one-proces"], {});
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown argument --one-proces/);
});
