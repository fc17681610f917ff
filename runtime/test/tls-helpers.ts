// Test helpers for the TLS suites: throwaway certificate sets made by the same
// scripts/certs.ts that `npm run certs` runs, real service processes started
// with a given environment, and raw HTTPS requests over HTTP/2 and HTTP/1.1.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as h1Request } from "node:https";
import { connect as h2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { certPaths, ensureCerts, type CertPaths } from "../../scripts/certs.js";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const mains = {
  controller: join(root, "controller/src/main.ts"),
  fortuna: join(root, "fortuna/src/main.ts"),
  gateway: join(root, "gateway/src/main.ts"),
};

// Liveness bounds, not performance targets: generous for a loaded 2-core machine.
export const START_BOUND_MS = 90_000;

export type ServiceName = "controller" | "fortuna" | "gateway";

/** What a client presents: the CA it trusts, and optionally its own certificate. */
export interface ClientCreds {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface CertSet {
  dir: string;
  ca: Buffer;
  paths(name: ServiceName): CertPaths;
  /** The CA plus `name`'s certificate and key. */
  creds(name: ServiceName): Required<ClientCreds>;
  remove(): void;
}

export function makeCertSet(label: string): CertSet {
  const dir = mkdtempSync(join(tmpdir(), `lokey-tls-${label}-`));
  ensureCerts(dir);
  const ca = readFileSync(join(dir, "ca.crt"));
  return {
    dir,
    ca,
    paths: (name) => certPaths(dir, name),
    creds: (name) => ({ ca, cert: readFileSync(certPaths(dir, name).cert), key: readFileSync(certPaths(dir, name).key) }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The variables a service reads for TLS and access, so the caller's shell cannot leak into a test. */
const SECURITY_VARS = ["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE", "TLS_ALLOWED_CLIENTS", "TRUSTED_PROXIES", "ADMIN_TOKEN", "ADMIN_TOKEN_FILE",
  "UPSTREAM_CA_FILE", "UPSTREAM_CERT_FILE", "UPSTREAM_KEY_FILE", "CONTROLLER_ADDR", "FORTUNA_ADDR", "HOST", "PORT"];

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const v of SECURITY_VARS) delete base[v];
  return { ...base, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env };
}

/** A service's JSON log lines (runtime/src/log.ts writes them to stderr). */
export const logLines = (text: string): Record<string, unknown>[] =>
  text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

export interface RunningProcess {
  port: number;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts `node --import tsx main` and resolves with the port it logged as listening on. */
export async function startProcess(main: string, env: Record<string, string>): Promise<RunningProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", main], { cwd: root, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let logs = "";
  child.stdout!.on("data", (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${main} did not listen within ${START_BOUND_MS} ms:\n${logs}`)), START_BOUND_MS);
      child.stderr!.on("data", (d: Buffer) => {
        logs += d.toString();
        const m = /"msg":"listening","port":(\d+)/.exec(logs);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${main} exited with ${code} before listening:\n${logs}`));
      });
    });
    return { port, child, logs: () => logs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node --import tsx main` expecting it to refuse to start: fails at once
 * if it logs that it is listening, and past the bound if it never ends.
 */
export function runToExit(main: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Exit> {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", main], { cwd: root, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${main} ${why}:\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`still running after ${START_BOUND_MS} ms`), START_BOUND_MS);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (/"msg":"listening"/.test(stderr)) fail("started instead of refusing");
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface HttpReply {
  status: number;
  contentType: string;
  body: string;
}

export interface HttpCall {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request over HTTP/2 on a fresh TLS connection (ALPN h2). */
export function h2Call(port: number, path: string, call: HttpCall, tls: ClientCreds): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const session = h2Connect(`https://127.0.0.1:${port}`, { ...tls, ALPNProtocols: ["h2"] });
    const fail = (err: Error) => {
      session.destroy();
      reject(err);
    };
    session.once("error", fail);
    const req = session.request({ ":method": call.method ?? "GET", ":path": path, ...call.headers });
    let body = "";
    let status = 0;
    let contentType = "";
    req.on("response", (h) => {
      status = Number(h[":status"]);
      contentType = String(h["content-type"] ?? "");
    });
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.once("error", fail);
    req.once("end", () => {
      session.close();
      resolve({ status, contentType, body });
    });
    req.end(call.body);
  });
}

/** One request over HTTP/1.1 on a fresh TLS connection (no ALPN: HTTP/1.1 by default). */
export function h1Call(port: number, path: string, call: HttpCall, tls: ClientCreds): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = h1Request({ host: "127.0.0.1", port, path, method: call.method ?? "GET", headers: call.headers, agent: false, ...tls }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.once("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body }));
      res.once("error", reject);
    });
    req.once("error", reject);
    req.end(call.body);
  });
}

/**
 * A module to preload (`--import`) into a process under test: every TCP
 * connection it tries towards a non-loopback address is written to the file
 * `logFile` and never made, so a test can show a process sent nothing off the
 * machine, and a regression cannot send anything either.
 */
export const NO_REMOTE_CONNECTIONS = (logFile: string) => `
import net from "node:net";
import { appendFileSync } from "node:fs";
const connect = net.Socket.prototype.connect;
const loopback = (h) => h === "localhost" || (net.isIP(h) !== 0 && (h.startsWith("127.") || h === "::1" || h.startsWith("::ffff:127.")));
net.Socket.prototype.connect = function (...args) {
  const a = Array.isArray(args[0]) ? args[0] : args; // net.connect() passes its normalized arguments as one array
  const o = a[0] !== null && typeof a[0] === "object" ? a[0] : { port: a[0], host: typeof a[1] === "string" ? a[1] : undefined };
  const host = o.host ?? "localhost";
  if (o.path !== undefined || loopback(host)) return connect.apply(this, args);
  appendFileSync(${JSON.stringify(logFile)}, host + ":" + o.port + "\\n");
  process.nextTick(() => this.destroy(new Error("test guard: no connection to " + host)));
  return this;
};
`;

/** Asserts that `p` fails with `code` and a message matching `message`. */
export async function assertCode(p: Promise<unknown>, code: Code, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = ConnectError.from(err);
    assert.equal(Code[e.code], Code[code], `${Code[e.code]}: ${e.rawMessage}`);
    assert.match(e.rawMessage, message);
    return true;
  });
}

/** The first message of a server stream (the call is cancelled after it). */
export async function firstOf<T>(stream: AsyncIterable<T>): Promise<T> {
  for await (const m of stream) return m;
  throw new Error("the stream ended without a message");
}
