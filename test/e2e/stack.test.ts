// The whole stack as a user starts it: `npm start` (scripts/start.ts) with its
// embedded defaults, three real processes on loopback, then what the README
// promises: reflection and health on every port, /health as JSON, data served
// through the gateway with seeding done, and Ctrl-C stopping everything.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection, ServerReflectionRequestSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ControllerService } from "../../gen/lokey/controller/v1/controller_pb.js";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient } from "../../runtime/src/index.js";
import { freePort } from "../../runtime/test/net.js";
import { assertCode, firstOf, type ClientCreds } from "../../runtime/test/tls-helpers.js";
import { until as poll } from "./poll.js";

// Liveness bounds, not performance targets: generous for a loaded 2-core machine.
const STARTUP_BOUND_MS = 90_000;
const STOP_BOUND_MS = 30_000;


const until = <T>(what: string, probe: () => Promise<T | undefined>, boundMs = STARTUP_BOUND_MS) =>
  poll(what, probe, boundMs, () => `output:\n${output}`);

// The gateway is public and plain by default; its upstreams speak mutual TLS
// with the certificates npm start makes on first run.
const services = {
  gateway: { port: 0, typeName: "lokey.v1.GatewayService", tls: false },
  controller: { port: 0, typeName: "lokey.controller.v1.ControllerService", tls: true },
  fortuna: { port: 0, typeName: "lokey.fortuna.v1.FortunaService", tls: true },
};
const certsDir = () => join(dbDir, "certs");
// An IP address is no TLS server name (RFC 6066 §3); every LoKey certificate names localhost.
const tlsOptions = () => ({ ca: readFileSync(join(certsDir(), "ca.crt")), servername: "localhost" });

/** GET over HTTPS with the stack's CA, as a client without a certificate. */
function httpsGet(url: string): Promise<{ contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, tlsOptions(), (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c) => (body += c));
      res.on("end", () => resolve({ contentType: String(res.headers["content-type"] ?? ""), body }));
    });
    req.on("error", reject).end();
  });
}
let stack: ChildProcess;
let output = "";
let dbDir: string;
let exited: Promise<number | null>;

before(async () => {
  for (const s of Object.values(services)) s.port = await freePort();
  dbDir = mkdtempSync(join(tmpdir(), "lokey-e2e-"));
  stack = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env: {
      ...process.env,
      GATEWAY_PORT: String(services.gateway.port),
      CONTROLLER_PORT: String(services.controller.port),
      FORTUNA_PORT: String(services.fortuna.port),
      DB_PATH: join(dbDir, "gateway"),
      CERTS_DIR: certsDir(),
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  stack.stdout!.on("data", (b) => (output += b));
  stack.stderr!.on("data", (b) => (output += b));
  exited = new Promise((resolve) => stack.once("exit", (code) => resolve(code)));
});

after(async () => {
  if (stack.exitCode === null) stack.kill("SIGKILL");
  rmSync(dbDir, { recursive: true, force: true });
});

const base = (port: number, tls = false) => `${tls ? "https" : "http"}://127.0.0.1:${port}`;

async function httpsOrHttpGet(url: string): Promise<{ contentType: string; body: string }> {
  if (url.startsWith("https:")) return httpsGet(url);
  const res = await fetch(url);
  return { contentType: res.headers.get("content-type") ?? "", body: await res.text() };
}

describe("npm start", () => {
  for (const [name, svc] of Object.entries(services)) {
    test(`${name}: /health answers JSON`, async () => {
      const body = await until(`${name} /health`, async () => {
        const res = await httpsOrHttpGet(`${base(svc.port, svc.tls)}/health`);
        assert.match(res.contentType, /application\/json/);
        return JSON.parse(res.body) as Record<string, unknown>;
      });
      assert.equal(typeof body, "object");
      assert.ok("status" in body || "healthy" in body, JSON.stringify(body));
    });

    test(`${name}: reflection lists the service and health Check turns SERVING`, async () => {
      const transport = createGrpcTransport({ baseUrl: base(svc.port, svc.tls), ...(svc.tls && { nodeOptions: tlsOptions() }) });
      const reflection = createClient(ServerReflection, transport);
      async function* list() {
        yield create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
      }
      let names: string[] = [];
      for await (const r of reflection.serverReflectionInfo(list())) {
        if (r.messageResponse.case === "listServicesResponse") names = r.messageResponse.value.service.map((s) => s.name);
      }
      assert.ok(names.includes(svc.typeName), `${svc.typeName} in ${names}`);
      const health = createClient(Health, transport);
      // Fortuna serves only once the gateway has seeded it from the controller.
      await until(`${name} SERVING`, async () => ((await health.check({ service: "" })).status === Status.SERVING ? true : undefined));
    });
  }

  test("the gateway serves both sources and its counters add up", async () => {
    const g = base(services.gateway.port);
    // 1024 bytes cover at least one whole queue item of either source, so each
    // read shows up in consumed_count (items count once their last byte is served).
    for (const source of ["fortuna", "trng"]) {
      const values = await until(`${source} data`, async () => {
        const res = await fetch(`${g}/api/v1/data`, { method: "POST", body: JSON.stringify({ format: "uint8", limit: 1024, source }) });
        return res.status === 200 ? ((await res.json()) as number[]) : undefined;
      });
      assert.equal(values.length, 1024);
      assert.ok(values.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
    }
    const status = (await (await fetch(`${g}/api/v1/status`)).json()) as Record<string, Record<string, number>>;
    for (const source of ["trng", "fortuna"]) {
      const q = status[source];
      assert.ok(q.consumed_count > 0, `${source} consumed_count ${q.consumed_count}`);
      assert.ok(q.queue_current <= q.queue_capacity);
      assert.equal(q.unconsumed_count, q.queue_current);
      assert.equal(q.total_generated, q.queue_current + q.consumed_count + q.queue_dropped);
    }
  });

  test("the certificates were made under CERTS_DIR on first run, and the upstreams serve TLS only", async () => {
    assert.match(output, /made certificates for mutual TLS under .* \(ca\.crt, controller\.crt, fortuna\.crt, gateway\.crt\)/);
    const ca = new X509Certificate(readFileSync(join(certsDir(), "ca.crt")));
    for (const name of ["controller", "fortuna", "gateway"]) {
      assert.ok(existsSync(join(certsDir(), `${name}.key`)), `${name}.key`);
      assert.ok(new X509Certificate(readFileSync(join(certsDir(), `${name}.crt`))).checkIssued(ca), `${name}.crt`);
    }
    for (const name of ["controller", "fortuna"] as const) {
      assert.match(output, new RegExp(`"service":"${name}","msg":"listening","port":${services[name].port},"tls":true,"clientCertificates":true`));
      await assert.rejects(fetch(`${base(services[name].port)}/health`), `plain HTTP answered on ${name}'s port`);
    }
  });

  test("a local client without a certificate is refused Seed, StreamSamples and Generate; with the gateway's it is served", async () => {
    const ca = tlsOptions().ca;
    const own = (name: string): ClientCreds => ({ ca, cert: readFileSync(join(certsDir(), `${name}.crt`)), key: readFileSync(join(certsDir(), `${name}.key`)) });
    const fortuna = (tls: ClientCreds) => createGrpcClient(FortunaService, `127.0.0.1:${services.fortuna.port}`, { tls });
    const controller = (tls: ClientCreds) => createGrpcClient(ControllerService, `127.0.0.1:${services.controller.port}`, { tls });
    const clients = [fortuna({ ca }), controller({ ca }), fortuna(own("gateway")), controller(own("gateway"))] as const;
    const [anonFortuna, anonController, gwFortuna, gwController] = clients;
    const seeds = [new Uint8Array(64).fill(9)];
    try {
      await assertCode(anonFortuna.seed({ seeds }), Code.Unauthenticated, /Seed requires a client certificate/);
      await assertCode(anonController.generate({ count: 1 }), Code.Unauthenticated, /Generate requires a client certificate/);
      await assertCode(firstOf(anonController.streamSamples({})), Code.Unauthenticated, /StreamSamples requires a client certificate/);
      assert.equal((await gwFortuna.seed({ seeds })).count, 1);
      assert.equal((await gwController.generate({ count: 1 })).data[0].length, 32);
      assert.equal((await firstOf(gwController.streamSamples({}))).data.length, 32);
    } finally {
      for (const c of clients) c.close();
    }
  });

  test("Ctrl-C stops all three", async () => {
    stack.kill("SIGINT");
    const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), STOP_BOUND_MS))]);
    assert.equal(code, 0, `exit ${code}; output:\n${output.slice(-3000)}`);
    // Each port in the protocol it spoke, so a refusal means nobody listens.
    for (const svc of Object.values(services)) await assert.rejects(httpsOrHttpGet(`${base(svc.port, svc.tls)}/health`), /ECONNREFUSED|fetch failed/);
  });
});
