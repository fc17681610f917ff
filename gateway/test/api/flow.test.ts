// StreamData takes from a queue only what the client's flow-control window
// takes, answers its head before any data is there, and HEAD takes nothing.
// Issue 13: one HTTP/2 connection with 100 unread 1 MiB-chunk streams used to
// take ~1 MiB per stream that nobody received, and keep the memory.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as h2Connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GatewayService, Source, StreamDataRequestSchema } from "../../../gen/lokey/v1/gateway_pb.js";
import { fakeGatewayPerFile } from "./harness.js";

const g = fakeGatewayPerFile();

/** Liveness bound for waits on the server (a loaded machine is slow; no performance target). */
const LIVENESS_MS = 30_000;
/** RFC 9113 §6.5.2: SETTINGS_INITIAL_WINDOW_SIZE when a client does not set it; Node's client does not. */
const DEFAULT_WINDOW = 65_535;
/** runtime/src/send-flow.ts PROBE_BYTES: what a stream sends beyond the window granted up front to learn whether the client reads. */
const PROBE = 4096;

const consumed = (s: "trng" | "fortuna") => Number(g.engine.queues[s].consumed);

function grpcStreamData(chunkSize: number): Buffer {
  const msg = toBinary(StreamDataRequestSchema, create(StreamDataRequestSchema, { source: Source.FORTUNA, chunkSize }));
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  Buffer.from(msg).copy(frame, 5);
  return frame;
}

/** Opens `n` StreamData calls over gRPC on one connection and reads none of them; resolves once each has its response head. */
async function unreadStreams(session: ClientHttp2Session, n: number, chunkSize: number): Promise<ClientHttp2Stream[]> {
  const body = grpcStreamData(chunkSize);
  const streams: ClientHttp2Stream[] = [];
  const heads: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const s = session.request({ ":method": "POST", ":path": "/lokey.v1.GatewayService/StreamData", "content-type": "application/grpc", te: "trailers" });
    s.on("error", () => undefined);
    s.pause();
    s.end(body);
    heads.push(once(s, "response"));
    streams.push(s);
  }
  await withLiveness(Promise.all(heads), "response heads");
  return streams;
}

function withLiveness<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${LIVENESS_MS} ms`)), LIVENESS_MS)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** Waits until the queue's consumption has not moved for a while (every stream waits for its client); returns what was taken since `start`. */
async function consumptionSettled(start: number): Promise<number> {
  let last = -1;
  for (let still = 0; still < 20; ) {
    await new Promise((r) => setTimeout(r, 25));
    const now = consumed("fortuna");
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last - start;
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const buffers = () => {
  gc();
  return process.memoryUsage().arrayBuffers;
};

describe("StreamData follows the client's flow control", () => {
  test("100 unread streams of 1 MiB chunks on one connection take at most each stream's window plus one probe, and the memory returns", async () => {
    g.engine.endless.add("fortuna");
    const before = buffers();
    const start = consumed("fortuna");
    const session = h2Connect(g.base);
    session.on("error", () => undefined);
    try {
      await unreadStreams(session, 100, 1024 * 1024);
      const taken = await consumptionSettled(start);
      const bound = 100 * (DEFAULT_WINDOW + PROBE);
      assert.ok(taken > 0 && taken <= bound, `took ${taken} bytes for 100 unread streams; at most ${bound} (100 x (${DEFAULT_WINDOW} + ${PROBE}))`);
      // Before: ~1 MiB per stream taken, and three copies of it held (~300 MB).
      const held = process.memoryUsage().arrayBuffers - before;
      assert.ok(held < 64 * 1024 * 1024, `held ${held} bytes of buffers with 100 unread streams`);
    } finally {
      session.destroy();
    }
    await withLiveness(g.engine.streamsStopped(), "streams to stop");
    const after = consumed("fortuna");
    await withLiveness(
      (async () => {
        while (buffers() - before > 8 * 1024 * 1024) await new Promise((r) => setTimeout(r, 50));
      })(),
      "buffers to be freed",
    );
    assert.equal(consumed("fortuna"), after, "nothing taken after the client left");
  });

  test("a client that grants larger windows gets as much, and no more", async () => {
    g.engine.endless.add("fortuna");
    const window = 256 * 1024;
    const start = consumed("fortuna");
    const session = h2Connect(g.base, { settings: { initialWindowSize: window } });
    session.on("error", () => undefined);
    try {
      await once(session, "connect");
      session.setLocalWindowSize(10 * window + DEFAULT_WINDOW);
      await unreadStreams(session, 10, 1024 * 1024);
      const taken = await consumptionSettled(start);
      assert.ok(taken > 10 * DEFAULT_WINDOW, `took ${taken}: more than the default windows allow`);
      assert.ok(taken <= 10 * (window + PROBE), `took ${taken}; at most ${10 * (window + PROBE)}`);
    } finally {
      session.destroy();
    }
    await withLiveness(g.engine.streamsStopped(), "streams to stop");
  });

  test("a client that reads gets every byte it asked for, in chunks of at most chunk_size", async () => {
    g.engine.endless.add("fortuna");
    const client = createClient(GatewayService, createGrpcTransport({ baseUrl: g.base }));
    const start = consumed("fortuna");
    let got = 0;
    for await (const m of client.streamData({ source: Source.FORTUNA, maxBytes: 1_000_000n, chunkSize: 100_000 })) {
      assert.ok(m.data.length > 0 && m.data.length <= 100_000);
      got += m.data.length;
    }
    assert.equal(got, 1_000_000);
    assert.equal(consumed("fortuna") - start, 1_000_000);
  });
});

describe("response heads go out before there is data", () => {
  test("REST: GET /api/v1/stream answers 200 and its headers on an empty queue, then the bytes as they come", async () => {
    const res = await withLiveness(fetch(`${g.base}/api/v1/stream?source=trng&max_bytes=10`), "the response head");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    g.engine.feed("trng", Buffer.from("0123456789"));
    assert.equal(Buffer.from(await res.arrayBuffer()).toString(), "0123456789");
  });

  test("gRPC: the head arrives on an empty queue, then the message", async () => {
    const client = createClient(GatewayService, createGrpcTransport({ baseUrl: g.base }));
    let onHeader!: (h: Headers) => void;
    const head = new Promise<Headers>((r) => (onHeader = r));
    const stream = client.streamData({ source: Source.TRNG, maxBytes: 4n }, { onHeader })[Symbol.asyncIterator]();
    const first = stream.next();
    const h = await withLiveness(head, "the response head");
    assert.match(h.get("content-type") ?? "", /^application\/grpc/);
    g.engine.feed("trng", Buffer.from("abcd"));
    assert.equal(Buffer.from((await first).value!.data).toString(), "abcd");
    assert.equal((await stream.next()).done, true);
  });
});

describe("HEAD takes nothing", () => {
  for (const source of ["fortuna", "trng"] as const) {
    test(`HEAD /api/v1/stream?source=${source}: 405 with Allow, no head of a stream, nothing consumed`, async () => {
      g.engine.feed(source, Buffer.alloc(4096, 1));
      const before = { available: g.engine.available(source), consumed: consumed(source) };
      const res = await fetch(`${g.base}/api/v1/stream?source=${source}`, { method: "HEAD" });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get("allow"), "GET");
      assert.deepEqual({ available: g.engine.available(source), consumed: consumed(source) }, before);
    });
  }

  test("HEAD /api/v1/data (a POST route): 405, nothing consumed", async () => {
    g.engine.feed("trng", Buffer.alloc(64, 1));
    const res = await fetch(`${g.base}/api/v1/data`, { method: "HEAD" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "POST");
    assert.equal(g.engine.available("trng"), 64);
  });

  for (const path of ["/api/v1/status", "/api/v1/health", "/health", "/api/v1/config/queue", "/api/v1/config/consume", "/api/v1/usage", "/metrics"]) {
    test(`HEAD ${path} (no side effects): the GET's status, no body`, async () => {
      const get = await fetch(g.base + path);
      const head = await fetch(g.base + path, { method: "HEAD" });
      assert.equal(head.status, get.status);
      assert.equal(head.headers.get("content-type"), get.headers.get("content-type"));
      assert.equal(await head.text(), "");
      await get.arrayBuffer();
    });
  }
});
