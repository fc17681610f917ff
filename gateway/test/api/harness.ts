// Starts the gateway API on port 0 over a given engine (the fake by default).
import { after, before, beforeEach } from "node:test";
import { silentLogger, startServer, type RunningServer, type ServerOptions } from "../../../runtime/src/index.js";
import { gatewaySetup, type GatewayAppOptions } from "../../src/app.js";
import type { GatewayEngine } from "../../src/engine/types.js";
import { FakeEngine } from "./fake-engine.js";

export interface Gateway<E extends GatewayEngine> {
  server: RunningServer;
  engine: E;
  base: string;
  address: string;
  close(): Promise<void>;
}

/** Server settings a test may add: `security` (e.g. trusted proxies). */
export type GatewayServerOptions = Pick<ServerOptions, "security">;

export function startGateway(engine?: undefined, opts?: GatewayAppOptions, server?: GatewayServerOptions): Promise<Gateway<FakeEngine>>;
export function startGateway<E extends GatewayEngine>(engine: E, opts?: GatewayAppOptions, server?: GatewayServerOptions): Promise<Gateway<E>>;
export async function startGateway(engine?: GatewayEngine, opts: GatewayAppOptions = {}, serverOpts: GatewayServerOptions = {}): Promise<Gateway<GatewayEngine>> {
  const e = engine ?? new FakeEngine();
  const server = await startServer({
    ...gatewaySetup(e, opts),
    ...serverOpts,
    name: "gateway",
    port: 0,
    host: "127.0.0.1",
    log: silentLogger,
    shutdownTimeoutMs: 2000,
  });
  return { server, engine: e, base: `http://127.0.0.1:${server.port}`, address: `127.0.0.1:${server.port}`, close: () => server.close() };
}

/**
 * One gateway over the fake engine for a whole test file (hooks registered
 * here), with empty queues, consume mode on and nothing endless before each test.
 */
export function fakeGatewayPerFile(): Gateway<FakeEngine> {
  const g = {} as Gateway<FakeEngine>;
  before(async () => {
    Object.assign(g, await startGateway());
  });
  after(() => g.close());
  beforeEach(() => {
    for (const q of Object.values(g.engine.queues)) q.bytes = Buffer.alloc(0);
    g.engine.consume = true;
    g.engine.endless.clear();
  });
  return g;
}

/** POSTs a body (a string is sent verbatim) and returns status, headers and raw bytes. */
export async function post(base: string, path: string, body: unknown, headers: Record<string, string> = { "Content-Type": "application/json" }) {
  const res = await fetch(base + path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

export async function put(base: string, path: string, body: unknown) {
  const res = await fetch(base + path, { method: "PUT", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");
