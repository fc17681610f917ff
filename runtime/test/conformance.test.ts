// What gRPC, gRPC-Web and Connect clients expect of a server beyond its
// methods: a call of a method it does not have is HTTP 200 with grpc-status
// 12 (UNIMPLEMENTED) in a Trailers-Only response (gRPC's PROTOCOL-HTTP2.md,
// PROTOCOL-WEB.md; docs/reference/wire-protocols.md), while Connect keeps HTTP 404 (the Connect protocol spec);
// gRPC-Web's text mode is base64 both ways (PROTOCOL-WEB.md); and unknown
// enum names in a Connect GET's JSON are named as such.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { request as http1Request } from "node:http";
import { connect as http2Connect, constants } from "node:http2";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GenerateRequestSchema, GenerateResponseSchema } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { GatewayService, GetDataRequestSchema } from "../../gen/lokey/v1/gateway_pb.js";
import { watchJsonEnums } from "../src/json-enums.js";
import { createGrpcClient } from "../src/index.js";
import { fixturePerFile } from "./fixture.js";

const fx = fixturePerFile();

// An empty request message, gRPC length-prefixed: not compressed, length 0.
const EMPTY_FRAME = Buffer.alloc(5);

function h2Call(path: string, contentType: string) {
  return new Promise<{ headers: Record<string, unknown>; endedWithHeaders: boolean; body: Buffer }>((resolve, reject) => {
    const session = http2Connect(fx.base);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": contentType, te: "trailers" });
    const chunks: Buffer[] = [];
    let headers: Record<string, unknown> = {};
    let endedWithHeaders = false;
    stream.on("response", (h, flags) => {
      headers = h;
      endedWithHeaders = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      session.close();
      resolve({ headers, endedWithHeaders, body: Buffer.concat(chunks) });
    });
    stream.on("error", reject);
    stream.end(EMPTY_FRAME);
  });
}

function h1Call(path: string, contentType: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const req = http1Request(`${fx.base}${path}`, { method: "POST", headers: { "content-type": contentType, "x-grpc-web": "1" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(EMPTY_FRAME);
  });
}

describe("a method the server does not have", () => {
  test("grpc-js: UNIMPLEMENTED for an unknown service", async () => {
    // The fixture serves FortunaService only.
    const client = createGrpcClient(GatewayService, `127.0.0.1:${fx.server.port}`);
    try {
      await assert.rejects(client.getStatus({}), (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.Unimplemented);
        assert.match(err.rawMessage, /unknown method \/lokey\.v1\.GatewayService\/GetStatus/);
        return true;
      });
    } finally {
      client.close();
    }
  });

  test("raw HTTP/2 gRPC: 200, grpc-status 12 in one HEADERS frame that ends the stream", async () => {
    const r = await h2Call("/lokey.fortuna.v1.FortunaService/NoSuchMethod", "application/grpc+proto");
    assert.equal(r.headers[":status"], 200);
    assert.equal(r.headers["grpc-status"], "12");
    assert.equal(r.headers["grpc-message"], "unknown method /lokey.fortuna.v1.FortunaService/NoSuchMethod");
    assert.equal(r.headers["content-type"], "application/grpc+proto");
    assert.equal(r.endedWithHeaders, true);
    assert.equal(r.body.length, 0);
  });

  test("gRPC-Web over HTTP/1.1: 200 with grpc-status 12 in the headers", async () => {
    const r = await h1Call("/lokey.fortuna.v1.FortunaService/NoSuchMethod", "application/grpc-web+proto");
    assert.equal(r.status, 200);
    assert.equal(r.headers["grpc-status"], "12");
    assert.equal(r.headers["content-type"], "application/grpc-web+proto");
    // The browser must be able to read the status (the fixture serves CORS).
    assert.match(String(r.headers["access-control-expose-headers"]), /Grpc-Status/);
    assert.equal(r.body.length, 0);
  });

  test("gRPC-Web over HTTP/2: the same", async () => {
    const r = await h2Call("/no.Such/Method", "application/grpc-web");
    assert.equal(r.headers[":status"], 200);
    assert.equal(r.headers["grpc-status"], "12");
  });

  test("Connect and plain requests keep HTTP 404", async () => {
    const connect = await fetch(`${fx.base}/lokey.fortuna.v1.FortunaService/NoSuchMethod`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(connect.status, 404);
    await connect.body?.cancel();
    // "application/grpcx" is not a gRPC content type.
    const other = await h1Call("/no.Such/Method", "application/grpcx");
    assert.equal(other.status, 404);
  });
});

const PYTHON = "/usr/bin/python3";
const script = fileURLToPath(new URL("./grpc_call.py", import.meta.url));
const skipPython = spawnSync(PYTHON, ["-c", "import grpc"]).status === 0 ? false : "python3-grpcio is not installed (apt-get install python3-grpcio)";

describe("python grpcio client", { skip: skipPython }, () => {
  test("an unknown method is UNIMPLEMENTED", async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(PYTHON, [script, `127.0.0.1:${fx.server.port}`, "/lokey.fortuna.v1.FortunaService/NoSuchMethod", "unary", "", "1"], { encoding: "utf8", timeout: 30_000 }, (err, _out, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }),
      ),
    );
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^UNIMPLEMENTED: unknown method \/lokey\.fortuna\.v1\.FortunaService\/NoSuchMethod/);
  });
});

describe("Connect JSON enum names in a GET's query", () => {
  // No side-effect-free RPC has an enum in its request yet, so the query form
  // (the Connect protocol spec's Unary-Get-Request) is checked on its own.
  const schema = GetDataRequestSchema;
  const none = (async function* () {})();
  test("plain and base64url messages name the unknown value", () => {
    const json = JSON.stringify({ format: "uint8" });
    for (const query of [`encoding=json&message=${encodeURIComponent(json)}`, `encoding=json&base64=1&message=${Buffer.from(json).toString("base64url")}`]) {
      const { issue } = watchJsonEnums(schema, "GET", "", new URLSearchParams(`connect=v1&${query}`), none, 1024);
      assert.match(issue.error?.rawMessage ?? "", /^format: unknown value "uint8" \(expected one of FORMAT_INT8, /);
    }
  });
  test("known names, numbers and binary messages pass", () => {
    for (const query of [`encoding=json&message=${encodeURIComponent('{"format":"FORMAT_UINT8","source":2}')}`, "encoding=proto&message=CAE"]) {
      assert.equal(watchJsonEnums(schema, "GET", "", new URLSearchParams(query), none, 1024).issue.error, undefined);
    }
  });
});

describe("gRPC-Web text (application/grpc-web-text)", () => {
  const frame = (size: number) => {
    const msg = Buffer.from(toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { size })));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.length, 1);
    return Buffer.concat([head, msg]);
  };
  // Frames of a decoded answer: [flag, payload] each.
  const frames = (bytes: Buffer) => {
    const out: [number, Buffer][] = [];
    for (let i = 0; i + 5 <= bytes.length; ) {
      const n = bytes.readUInt32BE(i + 1);
      out.push([bytes[i], bytes.subarray(i + 5, i + 5 + n)]);
      i += 5 + n;
    }
    return out;
  };
  // Base64 decoded quantum by quantum: the answer may be several padded chunks.
  const unbase64 = (text: string) => Buffer.concat(text.split(/(?<==)(?=[^=])/).map((s) => Buffer.from(s, "base64")));

  async function call(version: "1.1" | "2", body: string, contentType = "application/grpc-web-text") {
    const path = "/lokey.fortuna.v1.FortunaService/Generate";
    if (version === "2") {
      return new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
        const session = http2Connect(fx.base);
        session.on("error", reject);
        const stream = session.request({ ":method": "POST", ":path": path, "content-type": contentType, "x-grpc-web": "1" });
        let head: Record<string, unknown> = {};
        let text = "";
        stream.setEncoding("latin1");
        stream.on("response", (h) => (head = h));
        stream.on("data", (c: string) => (text += c));
        stream.on("end", () => {
          session.close();
          resolve({ status: Number(head[":status"]), type: String(head["content-type"]), text });
        });
        stream.on("error", reject);
        stream.end(body);
      });
    }
    return new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      const req = http1Request(`${fx.base}${path}`, { method: "POST", headers: { "content-type": contentType, "x-grpc-web": "1" } }, (res) => {
        let text = "";
        res.setEncoding("latin1");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode!, type: String(res.headers["content-type"]), text }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  for (const version of ["1.1", "2"] as const) {
    test(`HTTP/${version}: a unary call, its request sent as two separately padded base64 chunks`, async () => {
      const bytes = frame(4);
      const body = bytes.subarray(0, 4).toString("base64") + bytes.subarray(4).toString("base64");
      assert.match(body, /=.+/, "the first chunk carries padding");
      const r = await call(version, body);
      assert.equal(r.status, 200);
      assert.equal(r.type, "application/grpc-web-text+proto");
      assert.match(r.text, /^[A-Za-z0-9+/=]+$/);
      const [data, trailer] = frames(unbase64(r.text));
      assert.equal(data[0], 0x00);
      assert.deepEqual([...fromBinary(GenerateResponseSchema, data[1]).data], [0, 1, 2, 3]);
      assert.equal(trailer[0], 0x80);
      assert.match(trailer[1].toString("latin1"), /grpc-status: ?0\r\n/);
    });

    test(`HTTP/${version}: a rule violation is a status in the encoded trailer frame`, async () => {
      const r = await call(version, frame(0).toString("base64"), "application/grpc-web-text+proto");
      assert.equal(r.status, 200);
      const all = frames(unbase64(r.text));
      const trailer = all.find(([flag]) => flag === 0x80)![1].toString("latin1");
      assert.match(trailer, /grpc-status: ?3\r\n/);
      assert.match(decodeURIComponent(trailer), /size: must be an integer from 1 to 1048576/);
    });
  }
});
