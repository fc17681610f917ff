// A bounded, reproducible fuzz run (a seeded PRNG: the same requests every
// run) against the gateway over the fake engine, and against the runtime's
// Fortuna stand-in: random methods, paths, queries, headers and bodies on the
// REST routes; random, mutated and misframed messages on Connect, gRPC and
// gRPC-Web. Every answer must be a client error at worst: no 5xx, no
// INTERNAL/UNKNOWN/DATA_LOSS, no error logged, and the server still serves.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request as h1Request, type IncomingMessage } from "node:http";
import { connect as h2Connect, type ClientHttp2Session } from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { GatewayService } from "../../../gen/lokey/v1/gateway_pb.js";
import { FortunaService } from "../../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { createLogger, startServer, type Logger, type RunningServer } from "../../../runtime/src/index.js";
import { startFixture, type Fixture } from "../../../runtime/test/fixture.js";
import { gatewaySetup } from "../../src/app.js";
import { FakeEngine } from "./fake-engine.js";
import { frame, prng, restCase, rpcHeaders, rpcPayload, type Protocol, type Rng } from "./fuzz-cases.js";

const SEED = 0x13;
const REST_CASES = 700;
const RPC_CASES = 500;

/** A logger that counts error lines (a client's mistake must never log one). */
function countingLogger(errors: string[]): Logger {
  return createLogger("fuzz", { level: "error", write: (line) => errors.push(line) });
}

// ---- REST -----------------------------------------------------------------

interface Answer {
  status: number;
  what: string;
}

function sendRest(base: string, agent: Agent, c: ReturnType<typeof restCase>): Promise<Answer> {
  const what = `${c.method} ${c.path} ${JSON.stringify(c.headers)} ${c.body ? c.body.subarray(0, 80).toString("latin1") : ""}`;
  // Node's client sends a DELETE or OPTIONS body unframed unless told its length.
  const headers = c.body ? { ...c.headers, "content-length": String(c.body.length) } : c.headers;
  return new Promise((resolve, reject) => {
    const req = h1Request(base + c.path, { method: c.method, headers, agent }, (res: IncomingMessage) => {
      // A stream that was accepted streams for ever: its head is the answer.
      if (res.statusCode === 200 && /^\/api\/v1\/stream/.test(c.path)) {
        res.destroy();
        return resolve({ status: 200, what });
      }
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, what }));
      res.on("error", reject);
    });
    req.on("error", (err) => reject(new Error(`${what}: ${err.message}`)));
    req.end(c.body);
  });
}

// ---- RPC ------------------------------------------------------------------

const BAD_GRPC_STATUS = new Set(["2", "13", "15"]); // UNKNOWN, INTERNAL, DATA_LOSS

async function sendRpc(r: Rng, base: string, agent: Agent, session: () => ClientHttp2Session, methods: DescMethod[]): Promise<Answer> {
  const method = r.pick(methods);
  const path = `/${method.parent.typeName}/${method.name}`;
  const protocol = r.pick<Protocol>(["connect-json", "connect-proto", "grpc", "grpc-web"]);
  const json = protocol === "connect-json" || r.chance(0.2);
  const headers = rpcHeaders(r, protocol, json);
  let payload = rpcPayload(r, method, json);
  const streamed = method.methodKind !== "unary";
  // Streams over Connect are enveloped; unary Connect is not.
  if (protocol.startsWith("connect") && streamed) headers["content-type"] = json ? "application/connect+json" : "application/connect+proto";
  if (protocol.startsWith("grpc") || streamed) payload = frame(payload, r);
  const what = `${protocol} ${path} ${JSON.stringify(headers)} ${payload.toString("hex").slice(0, 120)}`;
  if (protocol === "grpc") {
    return new Promise((resolve, reject) => {
      const s = session().request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
      let status = 0;
      let done = false;
      const finish = (grpcStatus: string | undefined) => {
        if (done) return;
        done = true;
        s.close();
        resolve({ status: grpcStatus !== undefined && BAD_GRPC_STATUS.has(grpcStatus) ? 500 : status, what: `${what} grpc-status ${grpcStatus}` });
      };
      s.on("response", (h) => {
        status = Number(h[":status"]);
        if (h["grpc-status"] !== undefined) finish(String(h["grpc-status"]));
      });
      s.on("trailers", (t) => finish(String(t["grpc-status"])));
      // A stream that was accepted may go on for ever: its first message is answer enough.
      s.on("data", () => streamed && finish(undefined));
      s.on("end", () => finish(undefined));
      s.on("error", (err) => (done ? undefined : reject(new Error(`${what}: ${err.message}`))));
      s.end(payload);
    });
  }
  return new Promise((resolve, reject) => {
    const req = h1Request(base + path, { method: "POST", headers: { ...headers, "content-length": String(payload.length) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        // An accepted stream goes on for ever: what came so far is answer enough.
        if (streamed && size > 0 && res.statusCode === 200) res.destroy();
      });
      const settle = () => {
        const body = Buffer.concat(chunks).toString("latin1");
        const bad = /grpc-status: ?(2|13|15)\r\n/.test(body) || /"code":"(unknown|internal|data_loss)"/.test(body);
        resolve({ status: bad ? 500 : res.statusCode ?? 0, what: `${what} -> ${body.slice(0, 160)}` });
      };
      res.on("end", settle);
      res.on("close", settle);
    });
    req.on("error", (err) => reject(new Error(`${what}: ${err.message}`)));
    req.end(payload);
  });
}

// ---- the runs -------------------------------------------------------------

interface Target {
  name: string;
  server: RunningServer;
  base: string;
  errors: string[];
  /** The methods served (a stand-in implements only some of its contract). */
  methods: DescMethod[];
  close(): Promise<void>;
}

async function gatewayTarget(): Promise<Target> {
  const errors: string[] = [];
  const engine = new FakeEngine();
  engine.endless.add("trng");
  engine.endless.add("fortuna");
  const server = await startServer({ ...gatewaySetup(engine), name: "gateway", port: 0, host: "127.0.0.1", log: countingLogger(errors), shutdownTimeoutMs: 2000 });
  return { name: "gateway", server, base: `http://127.0.0.1:${server.port}`, errors, methods: [...GatewayService.methods, ...Health.methods], close: () => server.close() };
}

async function fortunaTarget(): Promise<Target> {
  const errors: string[] = [];
  const fx: Fixture = await startFixture({ server: { log: countingLogger(errors) } });
  fx.release(); // GetInfo answers at once
  return { name: "fortuna stand-in", server: fx.server, base: fx.base, errors, methods: [...FortunaService.methods.filter((m) => ["generate", "seed", "getInfo", "streamRandom"].includes(m.localName)), ...Health.methods], close: () => fx.server.close() };
}

for (const [name, start] of [
  ["gateway over the fake engine", gatewayTarget],
  ["the runtime's Fortuna stand-in", fortunaTarget],
] as const) {
  describe(`fuzz: ${name}`, () => {
    let t: Target;
    let agent: Agent;
    let h2: ClientHttp2Session | undefined;
    const session = () => {
      if (!h2 || h2.closed || h2.destroyed) {
        h2 = h2Connect(t.base);
        h2.on("error", () => undefined);
      }
      return h2;
    };
    before(async () => {
      t = await start();
      agent = new Agent({ keepAlive: true, maxSockets: 4 });
    });
    after(async () => {
      h2?.destroy();
      agent.destroy();
      await t.close();
    });

    test(`${REST_CASES} REST requests (seed ${SEED}): no 5xx, nothing logged as an error`, async () => {
      const r = prng(SEED);
      const routes = t.server.transcoder.list();
      const bad: Answer[] = [];
      const seen = new Set<number>();
      for (let i = 0; i < REST_CASES; i++) {
        const a = await sendRest(t.base, agent, restCase(r, routes));
        seen.add(Math.floor(a.status / 100));
        if (a.status >= 500 || a.status < 100) bad.push({ ...a, what: `#${i} ${a.what}` });
      }
      assert.deepEqual(bad, []);
      assert.ok(seen.has(2) && seen.has(4), "the run reached both handlers and refusals");
      assert.deepEqual(t.errors, []);
    });

    test(`${RPC_CASES} Connect, gRPC and gRPC-Web calls (seed ${SEED}): no 5xx, no INTERNAL/UNKNOWN/DATA_LOSS, nothing logged as an error`, async () => {
      const r = prng(SEED + 1);
      const bad: Answer[] = [];
      const seen = new Set<number>();
      for (let i = 0; i < RPC_CASES; i++) {
        const a = await sendRpc(r, t.base, agent, session, t.methods);
        seen.add(Math.floor(a.status / 100));
        if (a.status >= 500 || a.status < 100) bad.push({ ...a, what: `#${i} ${a.what}` });
      }
      assert.deepEqual(bad, []);
      assert.ok(seen.has(2) && seen.has(4), "the run reached both handlers and refusals");
      assert.deepEqual(t.errors, []);
    });

    test("still serving afterwards", async () => {
      const path = t.name === "gateway" ? "/api/v1/status" : "/generate?size=4";
      assert.equal((await fetch(t.base + path)).status, 200);
    });
  });
}
