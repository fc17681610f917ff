// Mutual TLS on real ports: the controller and Fortuna processes started as
// `npm start` starts them (TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE,
// TLS_ALLOWED_CLIENTS=gateway), called over gRPC (grpc-js and Python's
// grpcio), Connect and REST, with no certificate, the gateway's, another
// service's, and one from a CA the services do not trust.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ControllerService } from "../../gen/lokey/controller/v1/controller_pb.js";
import { FortunaService, GenerateRequestSchema, GenerateResponseSchema } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { Health, HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection, ServerReflectionRequestSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { createGrpcClient, type GrpcClient } from "../src/index.js";
import { assertCode, firstOf, h1Call, h2Call, mains, makeCertSet, startProcess, START_BOUND_MS, type CertSet, type ClientCreds, type RunningProcess, type ServiceName } from "./tls-helpers.js";

let pki: CertSet;
let foreign: CertSet; // a second CA: its certificates carry the same names but chain elsewhere
const procs: Partial<Record<"fortuna" | "controller", RunningProcess>> = {};

const serverEnv = (name: ServiceName) => ({
  TLS_CERT_FILE: pki.paths(name).cert,
  TLS_KEY_FILE: pki.paths(name).key,
  TLS_CLIENT_CA_FILE: pki.paths(name).ca,
  TLS_ALLOWED_CLIENTS: "gateway",
});

before(async () => {
  pki = makeCertSet("main");
  foreign = makeCertSet("foreign");
  const started = await Promise.allSettled([
    startProcess(mains.fortuna, { ...serverEnv("fortuna"), FORTUNA_SEED_FROM_OS: "true" }).then((p) => (procs.fortuna = p)),
    startProcess(mains.controller, { ...serverEnv("controller"), TRNG_DEVICE: "os" }).then((p) => (procs.controller = p)),
  ]);
  for (const s of started) if (s.status === "rejected") throw s.reason;
});

after(async () => {
  await Promise.all(Object.values(procs).map((p) => p.stop()));
  pki?.remove();
  foreign?.remove();
});

const port = (name: "fortuna" | "controller") => procs[name]!.port;
const anonymous = (): ClientCreds => ({ ca: pki.ca });
const asGateway = () => pki.creds("gateway");
const asController = () => pki.creds("controller");
const fromForeignCa = (): ClientCreds => ({ ...foreign.creds("gateway"), ca: pki.ca });

async function withClient<S extends DescService, T>(service: S, name: "fortuna" | "controller", tls: ClientCreds | undefined, fn: (c: GrpcClient<S>) => Promise<T>): Promise<T> {
  const client = createGrpcClient(service, `127.0.0.1:${port(name)}`, tls ? { tls } : {});
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

const seed64 = () => [new Uint8Array(64).fill(7)];
const connectJson = (body: unknown) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const connectSeed = connectJson({ seeds: [Buffer.alloc(64, 7).toString("base64")] });
const restSeed = connectJson({ seeds: ["07".repeat(64)] });

describe("a TLS port", () => {
  for (const alpn of ["h2", "http/1.1"]) {
    test(`negotiates ALPN ${alpn} when the client offers only that, with a certificate that verifies for 127.0.0.1`, async () => {
      const socket = tlsConnect({ host: "127.0.0.1", port: port("fortuna"), ca: pki.ca, ALPNProtocols: [alpn] });
      try {
        await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
        assert.equal(socket.alpnProtocol, alpn);
        assert.equal(socket.authorized, true, String(socket.authorizationError));
        assert.equal(socket.getPeerCertificate().subject.CN, "fortuna");
      } finally {
        socket.destroy();
      }
    });
  }

  test("has no plain-text fallback: h2c gRPC, HTTP/1.1 and raw bytes get no answer", async () => {
    await withClient(Health, "fortuna", undefined, (c) => assertCode(c.check({ service: "" }, { timeoutMs: 30_000 }), Code.Unavailable, /./));
    await assert.rejects(fetch(`http://127.0.0.1:${port("fortuna")}/health`));
    for (const hello of ["GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]) {
      const socket = netConnect({ host: "127.0.0.1", port: port("fortuna") });
      let received = "";
      socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
      socket.on("error", () => {}); // a reset is as good as a close here
      socket.setTimeout(START_BOUND_MS, () => socket.destroy(new Error("still open")));
      socket.write(hello);
      await new Promise<void>((resolve) => socket.once("close", () => resolve()));
      assert.doesNotMatch(received, /HTTP\/|grpc|health/i, "the server answered plain text");
      assert.notEqual(socket.errored?.message, "still open", "the server kept a plain-text connection open");
    }
  });
});

describe("Fortuna's service-only methods", () => {
  test("without a client certificate: UNAUTHENTICATED over gRPC, while public methods answer", async () => {
    await withClient(FortunaService, "fortuna", anonymous(), async (c) => {
      assert.equal((await c.getInfo({})).service.length > 0, true);
      const why = /Seed requires a client certificate/;
      await assertCode(c.seed({ seeds: seed64() }), Code.Unauthenticated, why);
      await assertCode(c.generate({ size: 16 }), Code.Unauthenticated, /Generate requires a client certificate/);
      await assertCode(c.amplify({ seed: new Uint8Array(32) }), Code.Unauthenticated, /Amplify requires a client certificate/);
      await assertCode(firstOf(c.streamRandom({ chunkSize: 16 })), Code.Unauthenticated, /StreamRandom requires a client certificate/);
    });
  });

  test("without a client certificate: Connect answers 401 unauthenticated over HTTP/2 and HTTP/1.1, REST 401 {error}", async () => {
    for (const call of [h2Call, h1Call]) {
      const r = await call(port("fortuna"), "/lokey.fortuna.v1.FortunaService/Seed", connectSeed, anonymous());
      assert.equal(r.status, 401, `${call.name}: ${r.body}`);
      const body = JSON.parse(r.body) as { code: string; message: string };
      assert.equal(body.code, "unauthenticated");
      assert.match(body.message, /Seed requires a client certificate/);
    }
    const rest = await h1Call(port("fortuna"), "/seed", restSeed, anonymous());
    assert.equal(rest.status, 401, rest.body);
    assert.match((JSON.parse(rest.body) as { error: string }).error, /Seed requires a client certificate/);
    const generate = await h2Call(port("fortuna"), "/generate?size=4", {}, anonymous());
    assert.equal(generate.status, 401, generate.body);
  });

  test("with the gateway's certificate: Seed, Generate, Amplify and StreamRandom over gRPC, Connect and REST", async () => {
    await withClient(FortunaService, "fortuna", asGateway(), async (c) => {
      assert.match((await c.seed({ seeds: seed64() })).status, /^(pooled|reseeded)$/);
      assert.equal((await c.generate({ size: 16 })).data.length, 16);
      assert.equal((await c.amplify({ seed: new Uint8Array(32).fill(1), size: 8 })).data.length, 8);
      assert.equal((await firstOf(c.streamRandom({ chunkSize: 32 }))).data.length, 32);
    });
    const connect = await h2Call(port("fortuna"), "/lokey.fortuna.v1.FortunaService/Seed", connectSeed, asGateway());
    assert.equal(connect.status, 200, connect.body);
    assert.equal((JSON.parse(connect.body) as { count: number }).count, 1);
    const rest = await h1Call(port("fortuna"), "/seed", restSeed, asGateway());
    assert.equal(rest.status, 200, rest.body);
    assert.equal((JSON.parse(rest.body) as { count: number }).count, 1);
  });

  test("a certificate from another CA: PERMISSION_DENIED, 403", async () => {
    await withClient(FortunaService, "fortuna", fromForeignCa(), (c) => assertCode(c.seed({ seeds: seed64() }), Code.PermissionDenied, /Seed: client certificate not accepted/));
    const rest = await h1Call(port("fortuna"), "/seed", restSeed, fromForeignCa());
    assert.equal(rest.status, 403, rest.body);
    assert.match((JSON.parse(rest.body) as { error: string }).error, /not accepted/);
  });

  test("an identity not in TLS_ALLOWED_CLIENTS (the controller's certificate): PERMISSION_DENIED, 403", async () => {
    await withClient(FortunaService, "fortuna", asController(), async (c) => {
      await assertCode(c.seed({ seeds: seed64() }), Code.PermissionDenied, /"controller" is not in TLS_ALLOWED_CLIENTS/);
      await assertCode(firstOf(c.streamRandom({})), Code.PermissionDenied, /not in TLS_ALLOWED_CLIENTS/);
    });
    const r = await h2Call(port("fortuna"), "/lokey.fortuna.v1.FortunaService/Seed", connectSeed, asController());
    assert.equal(r.status, 403, r.body);
    assert.equal((JSON.parse(r.body) as { code: string }).code, "permission_denied");
  });
});

describe("the controller's service-only methods", () => {
  test("without a client certificate: UNAUTHENTICATED over gRPC, 401 over Connect and REST", async () => {
    await withClient(ControllerService, "controller", anonymous(), async (c) => {
      await assertCode(c.generate({ count: 1 }), Code.Unauthenticated, /Generate requires a client certificate/);
      await assertCode(firstOf(c.streamSamples({})), Code.Unauthenticated, /StreamSamples requires a client certificate/);
    });
    const connect = await h1Call(port("controller"), "/lokey.controller.v1.ControllerService/Generate", connectJson({ count: 1 }), anonymous());
    assert.equal(connect.status, 401, connect.body);
    assert.equal((JSON.parse(connect.body) as { code: string }).code, "unauthenticated");
    const rest = await h1Call(port("controller"), "/generate?count=1", {}, anonymous());
    assert.equal(rest.status, 401, rest.body);
    assert.match((JSON.parse(rest.body) as { error: string }).error, /client certificate/);
  });

  test("another CA's certificate or Fortuna's identity: PERMISSION_DENIED", async () => {
    await withClient(ControllerService, "controller", fromForeignCa(), (c) => assertCode(c.generate({ count: 1 }), Code.PermissionDenied, /not accepted/));
    await withClient(ControllerService, "controller", pki.creds("fortuna"), (c) =>
      assertCode(firstOf(c.streamSamples({})), Code.PermissionDenied, /"fortuna" is not in TLS_ALLOWED_CLIENTS/));
  });

  test("with the gateway's certificate: StreamSamples and Generate deliver 32-byte samples", async () => {
    await withClient(ControllerService, "controller", asGateway(), async (c) => {
      // The stream waits for the start-up health tests; then Generate has samples too.
      assert.equal((await firstOf(c.streamSamples({}))).data.length, 32);
      const r = await c.generate({ count: 2 });
      assert.deepEqual(r.data.map((d) => d.length), [32, 32]);
    });
  });
});

describe("health and reflection stay open over TLS", () => {
  for (const [name, typeName] of [["fortuna", FortunaService.typeName], ["controller", ControllerService.typeName]] as const) {
    test(`${name}: health Check and reflection with only the CA`, async () => {
      await withClient(Health, name, anonymous(), async (c) => {
        // The controller serves once its start-up health tests passed.
        for (let i = 0; (await c.check({ service: "" })).status !== Status.SERVING; i++) {
          assert.ok(i < START_BOUND_MS / 100, `${name} never turned SERVING`);
          await new Promise((r) => setTimeout(r, 100));
        }
      });
      const transport = createGrpcTransport({ baseUrl: `https://127.0.0.1:${port(name)}`, nodeOptions: { ca: pki.ca } });
      async function* list() {
        yield create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
      }
      let names: string[] = [];
      for await (const r of createClient(ServerReflection, transport).serverReflectionInfo(list())) {
        if (r.messageResponse.case === "listServicesResponse") names = r.messageResponse.value.service.map((s) => s.name);
      }
      assert.ok(names.includes(typeName) && names.includes("grpc.health.v1.Health"), `${names}`);
      const rest = await h1Call(port(name), "/health", {}, anonymous());
      assert.equal(rest.status, 200, rest.body);
    });
  }
});

const PYTHON = "/usr/bin/python3";
const pyScript = fileURLToPath(new URL("./grpc_tls_call.py", import.meta.url));
const noGrpcio = spawnSync(PYTHON, ["-c", "import grpc"]).status === 0 ? false : "python3-grpcio is not installed (apt-get install python3-grpcio)";

describe("python grpcio over TLS", { skip: noGrpcio }, () => {
  async function py(method: string, request: Uint8Array, creds: { ca: string; cert?: string; key?: string }) {
    const args = [pyScript, `127.0.0.1:${port("fortuna")}`, creds.ca, creds.cert ?? "-", creds.key ?? "-", method, Buffer.from(request).toString("hex")];
    return new Promise<{ status: number; out: Buffer; stderr: string }>((resolve) =>
      execFile(PYTHON, args, { encoding: "utf8", timeout: START_BOUND_MS }, (err, stdout, stderr) =>
        resolve({ status: err ? Number(err.code ?? 1) : 0, out: Buffer.from(stdout.trim(), "hex"), stderr })));
  }
  const generate16 = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { size: 16 }));

  test("health Check with only the CA", async () => {
    const r = await py("/grpc.health.v1.Health/Check", toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema)), { ca: pki.paths("gateway").ca });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fromBinary(HealthCheckResponseSchema, r.out).status, Status.SERVING);
  });

  test("Generate with the gateway's certificate", async () => {
    const r = await py("/lokey.fortuna.v1.FortunaService/Generate", generate16, pki.paths("gateway"));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fromBinary(GenerateResponseSchema, r.out).data.length, 16);
  });

  test("Generate without a certificate: UNAUTHENTICATED; with the controller's: PERMISSION_DENIED", async () => {
    const none = await py("/lokey.fortuna.v1.FortunaService/Generate", generate16, { ca: pki.paths("gateway").ca });
    assert.equal(none.status, 3);
    assert.match(none.stderr, /^UNAUTHENTICATED: Generate requires a client certificate/m);
    const other = await py("/lokey.fortuna.v1.FortunaService/Generate", generate16, pki.paths("controller"));
    assert.equal(other.status, 3);
    assert.match(other.stderr, /^PERMISSION_DENIED: .*not in TLS_ALLOWED_CLIENTS/m);
  });

  test("a client trusting another CA does not connect: the server's certificate is checked", async () => {
    const r = await py("/grpc.health.v1.Health/Check", toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema)), { ca: foreign.paths("gateway").ca });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /^UNAVAILABLE/m);
  });
});
