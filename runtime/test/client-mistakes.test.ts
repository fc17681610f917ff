// Every client mistake is a 4xx (or INVALID_ARGUMENT) with a message, never a
// 500: a request target or Host that is not a URL, a protobuf body that does
// not decode (Connect, gRPC, gRPC-Web), a Content-Encoding, a "__proto__"
// key; HEAD runs only what has no side effects.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as h2Connect } from "node:http2";
import { Agent, request as h1Request } from "node:http";
import { connect as netConnect } from "node:net";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { fixturePerFile } from "./fixture.js";

const fx = fixturePerFile();

/** Sends raw bytes over HTTP/1.1 and returns what came back until the server closed or answered in full. */
async function raw(request: string): Promise<{ status: number; head: string; body: string }> {
  const s = netConnect(fx.server.port, "127.0.0.1");
  await once(s, "connect");
  s.end(request);
  let got = "";
  s.on("data", (d: Buffer) => (got += d.toString("latin1")));
  await once(s, "close");
  const [head, body = ""] = got.split("\r\n\r\n", 2);
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]), head, body };
}

describe("request targets and authorities", () => {
  for (const target of ["//[", "//[::1", "http://[/x"]) {
    test(`target ${JSON.stringify(target)}: 400 with a JSON error`, async () => {
      const r = await raw(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 400, r.head);
      assert.match(JSON.parse(r.body.replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, "")).error, /Malformed request target/);
    });
  }

  for (const host of ["[", "a/b", "user@host", "x y"]) {
    test(`Host ${JSON.stringify(host)}: 400 on REST and RPC paths`, async () => {
      for (const path of ["/generate?size=1", "/lokey.fortuna.v1.FortunaService/Generate"]) {
        const r = await raw(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
        assert.equal(r.status, 400, `${path}: ${r.head}`);
      }
    });
  }

  test("an HTTP/1.0 request without Host: 400, not a 500", async () => {
    const r = await raw("POST /lokey.fortuna.v1.FortunaService/Generate HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"size\":1}");
    assert.equal(r.status, 400, r.head);
  });
});

describe("HEAD", () => {
  test("on a method without side effects: the GET's status and headers, no body", async () => {
    const pending = fetch(`${fx.base}/info`, { method: "HEAD" });
    await fx.slowStarted;
    fx.release();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(await res.text(), "");
  });

  test("on a method with side effects: 405, Allow names GET, the handler does not run", async () => {
    const res = await fetch(`${fx.base}/generate?size=3`, { method: "HEAD" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET");
  });

  test("a 405 elsewhere names HEAD where it is allowed", async () => {
    const res = await fetch(`${fx.base}/info`, { method: "DELETE" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
  });
});

// A protobuf body that is not a message: field 1 with a length past the end.
const GARBAGE = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
const envelope = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, 0, b.length]), b]);

describe("a request body that does not decode is INVALID_ARGUMENT on every protocol", () => {
  for (const rpc of ["Generate", "StreamRandom"]) {
    test(`gRPC ${rpc}: grpc-status 3 with the reason`, async () => {
      const session = h2Connect(fx.base);
      try {
        const s = session.request({ ":method": "POST", ":path": `/lokey.fortuna.v1.FortunaService/${rpc}`, "content-type": "application/grpc", te: "trailers" });
        s.end(envelope(GARBAGE));
        s.resume();
        const [trailers] = (await once(s, "trailers")) as [Record<string, string>];
        assert.equal(trailers["grpc-status"], "3");
        assert.match(decodeURIComponent(trailers["grpc-message"]), /parse binary/);
      } finally {
        session.close();
      }
    });

    test(`gRPC-Web ${rpc}: grpc-status 3 in the trailer frame`, async () => {
      const res = await fetch(`${fx.base}/lokey.fortuna.v1.FortunaService/${rpc}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: envelope(GARBAGE) });
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200);
      assert.equal(body[0], 0x80);
      assert.match(body.subarray(5).toString(), /grpc-status: 3\r\n/);
    });
  }

  test("Connect unary application/proto: 400 invalid_argument", async () => {
    const res = await fetch(`${fx.base}/lokey.fortuna.v1.FortunaService/Generate`, { method: "POST", headers: { "content-type": "application/proto" }, body: GARBAGE });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /parse binary/);
  });

  test("Connect streaming application/connect+proto: invalid_argument in the end-of-stream message", async () => {
    const res = await fetch(`${fx.base}/lokey.fortuna.v1.FortunaService/StreamRandom`, { method: "POST", headers: { "content-type": "application/connect+proto" }, body: envelope(GARBAGE) });
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body[0], 0x02);
    assert.equal((JSON.parse(body.subarray(5).toString()) as { error: { code: string } }).error.code, "invalid_argument");
  });
});

describe("Content-Encoding on REST bodies", () => {
  const seed = Buffer.from('{"seeds":["00ff","abcd"]}');
  for (const [coding, encode] of [
    ["gzip", gzipSync],
    ["x-gzip", gzipSync],
    ["deflate", deflateSync],
    ["br", brotliCompressSync],
  ] as const) {
    test(`${coding} is decoded`, async () => {
      const res = await fetch(`${fx.base}/seed`, { method: "POST", headers: { "content-encoding": coding }, body: encode(seed) });
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), { status: "pooled", count: 2 });
    });
  }

  test("an unsupported coding: 415 naming the supported ones", async () => {
    const res = await fetch(`${fx.base}/seed`, { method: "POST", headers: { "content-encoding": "compress" }, body: seed });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get("accept-encoding"), "gzip, deflate, br");
    assert.match(((await res.json()) as { error: string }).error, /compress/);
  });

  test("a body that inflates beyond the request limit is refused, not inflated", async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB; the limit is 64 KiB
    const res = await fetch(`${fx.base}/seed`, { method: "POST", headers: { "content-encoding": "gzip" }, body: bomb.subarray(0, 60 * 1024) });
    assert.equal(res.status, 400);
    assert.match(res.headers.get("x-error-detail") ?? "", /larger than 65536 bytes once decoded/);
  });

  test("a body that is not what its coding says: 400", async () => {
    const res = await fetch(`${fx.base}/seed`, { method: "POST", headers: { "content-encoding": "gzip" }, body: seed });
    assert.equal(res.status, 400);
    assert.match(res.headers.get("x-error-detail") ?? "", /not valid gzip/);
  });
});

describe("JSON keys", () => {
  test('"__proto__" is an unknown field like any other: 400', async () => {
    const res = await fetch(`${fx.base}/seed`, { method: "POST", body: '{"seeds":["00"],"__proto__":{"seeds":["11"]}}' });
    assert.equal(res.status, 400);
    assert.match(res.headers.get("x-error-detail") ?? "", /unknown field "__proto__"/);
  });
});

describe("an answer given before the request body was read", () => {
  // Node reads and drops the rest of a body whose length the request states,
  // so the connection stays usable (RFC 9112 §9.3); a client that reuses it
  // must not see it reset.
  for (const [what, method, path, headers] of [
    ["405", "DELETE", "/generate", {}],
    ["415", "POST", "/seed", { "content-encoding": "compress" }],
    ["404", "POST", "/nope", {}],
    ["CORS preflight", "OPTIONS", "/seed", { origin: "http://example.com", "access-control-request-method": "POST" }],
  ] as const) {
    test(`${what}: the same connection serves the next request`, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const call = (m: string, p: string, h: Record<string, string>, body?: Buffer) =>
        new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
          const req = h1Request(fx.base + p, { method: m, agent, headers: body ? { ...h, "content-length": String(body.length) } : h }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
          });
          req.on("error", reject);
          req.end(body);
        });
      try {
        const first = await call(method, path, headers, Buffer.alloc(200 * 1024, 0x7b));
        assert.ok(first.status >= 200 && first.status < 500, String(first.status));
        const second = await call("GET", "/generate?size=1", {});
        assert.deepEqual(second, { status: 200, reused: true });
      } finally {
        agent.destroy();
      }
    });
  }
});
