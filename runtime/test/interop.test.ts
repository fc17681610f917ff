// Interoperability with a second gRPC implementation: Python's grpcio (C core)
// calls the runtime's server over h2c. Skips, saying why, when Debian's
// python3-grpcio is not installed (`.ci/run` installs it).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { GenerateRequestSchema, GenerateResponseSchema, StreamRandomRequestSchema, StreamRandomResponseSchema } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { startFixture, type Fixture } from "./fixture.js";

const PYTHON = "/usr/bin/python3";
const script = fileURLToPath(new URL("./grpc_call.py", import.meta.url));
const probe = spawnSync(PYTHON, ["-c", "import grpc"], { encoding: "utf8" });
const skip = probe.status === 0 ? false : "python3-grpcio is not installed (apt-get install python3-grpcio)";

let fx: Fixture;
before(async () => {
  if (!skip) fx = await startFixture();
});
after(async () => {
  if (!fx) return;
  fx.release();
  await fx.server.close();
});

// Asynchronous on purpose: the server under test runs in this process.
async function call<I extends DescMessage, O extends DescMessage>(
  method: string, kind: "unary" | "stream", input: I, req: MessageInitShape<I>, output: O, limit = 1,
) {
  const hex = Buffer.from(toBinary(input, create(input, req))).toString("hex");
  const args = [script, `127.0.0.1:${fx.server.port}`, method, kind, hex, String(limit)];
  const r = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
    execFile(PYTHON, args, { encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
  const lines = r.stdout.split("\n").filter(Boolean);
  return { status: r.status, stderr: r.stderr, messages: lines.map((l) => fromBinary(output, Buffer.from(l, "hex"))) };
}

describe("python grpcio client", { skip }, () => {
  test("health Check", async () => {
    const r = await call("/grpc.health.v1.Health/Check", "unary", HealthCheckRequestSchema, {}, HealthCheckResponseSchema);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.messages[0].status, Status.SERVING);
  });

  test("unary call with generated types on both sides", async () => {
    const r = await call("/lokey.fortuna.v1.FortunaService/Generate", "unary", GenerateRequestSchema, { size: 4 }, GenerateResponseSchema);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([...r.messages[0].data], [0, 1, 2, 3]);
  });

  test("server stream, cancelled by the client after three messages", async () => {
    const r = await call("/lokey.fortuna.v1.FortunaService/StreamRandom", "stream", StreamRandomRequestSchema, { chunkSize: 8 }, StreamRandomResponseSchema, 3);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.messages.map((m) => m.data[0]), [0, 1, 2]);
  });

  test("rule violation arrives as INVALID_ARGUMENT with the message", async () => {
    const r = await call("/lokey.fortuna.v1.FortunaService/Generate", "unary", GenerateRequestSchema, { size: 0 }, GenerateResponseSchema);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /INVALID_ARGUMENT: size: must be an integer from 1 to 1048576/);
  });
});
