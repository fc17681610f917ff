// The request metrics every service has (docs/operations.md), on the runtime
// fixture over a real port: each answer counts once under its protocol,
// route and the status code the client received, on every protocol, and the
// exposition passes `promtool check metrics`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, constants } from "node:http2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { startFixture, type Fixture } from "./fixture.js";
import { eventually, metricValue, promtoolMissing, promtoolProblems } from "./prometheus.js";

let fx: Fixture;
before(async () => {
  fx = await startFixture();
});
after(async () => {
  fx.release();
  await fx.server.close();
});

const scrape = async () => {
  const res = await fetch(`${fx.base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return res.text();
};
const count = (text: string, labels: Record<string, string>) => metricValue(text, "lokey_requests_total", labels);

/**
 * Runs `traffic`, then waits until each expected series has grown by its
 * count (a response is counted when it closes, which may be just after the
 * client has its answer), and checks the histogram counted the same.
 */
async function expectCounted(traffic: () => Promise<unknown>, expected: [Record<string, string>, number][]): Promise<string> {
  const before = await scrape();
  await traffic();
  let now = before;
  await eventually(async () => {
    now = await scrape();
    return expected.every(([labels, n]) => count(now, labels) - count(before, labels) >= n);
  }, `series ${JSON.stringify(expected)}`);
  for (const [labels, n] of expected) {
    assert.equal(count(now, labels) - count(before, labels), n, JSON.stringify(labels));
    const histogram = (t: string) => metricValue(t, "lokey_request_duration_seconds_count", labels);
    assert.equal(histogram(now) - histogram(before), n, `histogram ${JSON.stringify(labels)}`);
  }
  return now;
}

const GENERATE = "/lokey.fortuna.v1.FortunaService/Generate";

describe("REST: route templates and the code behind the status", () => {
  test("an answer and a 400 count under the route, as ok and invalid_argument", async () => {
    await expectCounted(
      async () => {
        assert.equal((await fetch(`${fx.base}/generate?size=3`)).status, 200);
        assert.equal((await fetch(`${fx.base}/generate?size=0`)).status, 400);
        assert.equal((await fetch(`${fx.base}/generate?size=0&secret=1`)).status, 400);
      },
      [
        [{ protocol: "rest", route: "GET /generate", code: "ok" }, 1],
        [{ protocol: "rest", route: "GET /generate", code: "invalid_argument" }, 2],
      ],
    );
  });

  test("a verb the route does not take, an unknown path: the template alone, and unmatched", async () => {
    const text = await expectCounted(
      async () => {
        assert.equal((await fetch(`${fx.base}/generate`, { method: "DELETE" })).status, 405);
        assert.equal((await fetch(`${fx.base}/no/such/path?x=1`)).status, 404);
      },
      [
        [{ protocol: "rest", route: "/generate", code: "unimplemented" }, 1],
        [{ protocol: "http", route: "unmatched", code: "not_found" }, 1],
      ],
    );
    // Raw paths and query strings never become labels.
    assert.doesNotMatch(text, /no\/such\/path|secret|x=1/);
  });
});

describe("gRPC, gRPC-Web and Connect: the code the client received", () => {
  test("gRPC: ok, and INVALID_ARGUMENT from the rules", async () => {
    const client = createClient(FortunaService, createGrpcTransport({ baseUrl: fx.base }));
    await expectCounted(
      async () => {
        assert.equal((await client.generate({ size: 2 })).size, 2);
        await assert.rejects(client.generate({ size: 0 }), (e: ConnectError) => e.code === Code.InvalidArgument);
      },
      [
        [{ protocol: "grpc", route: GENERATE, code: "ok" }, 1],
        [{ protocol: "grpc", route: GENERATE, code: "invalid_argument" }, 1],
      ],
    );
  });

  test("gRPC-Web and Connect: ok, and the error code from the trailer frame and the JSON body", async () => {
    const web = createClient(FortunaService, createGrpcWebTransport({ baseUrl: fx.base, httpVersion: "1.1" }));
    const json = createClient(FortunaService, createConnectTransport({ baseUrl: fx.base, httpVersion: "1.1" }));
    await expectCounted(
      async () => {
        assert.equal((await web.generate({ size: 1 })).size, 1);
        await assert.rejects(web.generate({ size: 0 }), (e: ConnectError) => e.code === Code.InvalidArgument);
        assert.equal((await json.generate({ size: 1 })).size, 1);
        await assert.rejects(json.generate({ size: 0 }), (e: ConnectError) => e.code === Code.InvalidArgument);
      },
      [
        [{ protocol: "grpc_web", route: GENERATE, code: "ok" }, 1],
        [{ protocol: "grpc_web", route: GENERATE, code: "invalid_argument" }, 1],
        [{ protocol: "connect", route: GENERATE, code: "ok" }, 1],
        [{ protocol: "connect", route: GENERATE, code: "invalid_argument" }, 1],
      ],
    );
  });

  test("refusals before any handler runs: a body that does not decode, a method that does not exist", async () => {
    const call = (path: string, body: Buffer) =>
      new Promise<string | undefined>((resolve, reject) => {
        const session = connect(fx.base);
        session.on("error", reject);
        const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
        let status: string | undefined;
        stream.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
        stream.on("trailers", (h) => (status = h["grpc-status"] as string | undefined));
        stream.on("close", () => {
          session.close();
          resolve(status);
        });
        stream.resume();
        stream.end(body);
      });
    // A length-prefixed message whose protobuf bytes do not parse.
    const garbage = Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    await expectCounted(
      async () => {
        assert.equal(await call(GENERATE, garbage), String(Code.InvalidArgument));
        assert.equal(await call("/lokey.fortuna.v1.FortunaService/NoSuchMethod", garbage), String(Code.Unimplemented));
      },
      [
        [{ protocol: "grpc", route: GENERATE, code: "invalid_argument" }, 1],
        [{ protocol: "grpc", route: "unmatched", code: "unimplemented" }, 1],
      ],
    );
  });

  test("a stream the client cancels counts as canceled, and leaves nothing in flight", async () => {
    const inFlight = (t: string) => metricValue(t, "lokey_requests_in_flight");
    const idle = inFlight(await scrape());
    await expectCounted(
      async () => {
        const session = connect(fx.base);
        const stream = session.request({ ":method": "POST", ":path": "/lokey.fortuna.v1.FortunaService/StreamRandom", "content-type": "application/grpc", te: "trailers" });
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
        await new Promise<void>((resolve) => stream.once("data", () => resolve()));
        stream.close(constants.NGHTTP2_CANCEL);
        session.close();
      },
      [[{ protocol: "grpc", route: "/lokey.fortuna.v1.FortunaService/StreamRandom", code: "canceled" }, 1]],
    );
    // The scrape itself is in flight while it is collected.
    await eventually(async () => inFlight(await scrape()) <= idle, "no request left in flight");
  });
});

test("the exposition passes promtool check metrics", { skip: promtoolMissing }, async () => {
  await fetch(`${fx.base}/generate?size=1`);
  const text = await scrape();
  assert.ok(text.includes("lokey_request_duration_seconds_bucket"), "the histogram is exported");
  assert.equal(promtoolProblems(text), "");
});
