// Connection hygiene on real ports, plain and TLS: silent, trickling and idle
// clients are closed by the configured timeouts; open streams are not; one
// client address holds a bounded number of connections; HTTP/2 announces its
// stream limit. Timeouts here are short so the tests are quick; the waits
// below are liveness bounds (fail instead of hang), never performance targets.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as h2Connect, type ClientHttp2Session } from "node:http2";
import { BlockList, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { ConfigError, DEFAULT_CONNECTION_LIMITS, EnvReader, readCommonConfig, type ConnectionLimits } from "../src/index.js";
import { startFixture, type Fixture } from "./fixture.js";
import { mains, makeCertSet, runToExit, startProcess, type CertSet } from "./tls-helpers.js";

// Long enough that a loaded machine still connects, handshakes and writes a request within them.
const SHORT: ConnectionLimits = { headersTimeoutMs: 1000, requestTimeoutMs: 2000, idleTimeoutMs: 1000, maxConcurrentStreams: 5, maxConnectionsPerClient: 256 };
/** How long a test waits for the server to act before it fails (a loaded machine is slow; this is no target). */
const LIVENESS_MS = 30_000;

function withLiveness<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${LIVENESS_MS} ms`)), LIVENESS_MS)))]).finally(() =>
    clearTimeout(timer),
  );
}

async function openSocket(port: number): Promise<Socket> {
  const s = netConnect(port, "127.0.0.1");
  await once(s, "connect");
  return s;
}

/** Everything the server sent until it closed the connection. */
function untilClosed(socket: Socket | ReturnType<typeof tlsConnect>, what: string): Promise<string> {
  let got = "";
  socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
  socket.on("error", () => undefined); // a reset is a close too
  return withLiveness(once(socket, "close").then(() => got), what);
}

/** Writes `line` every `ms` until the socket closes. */
function trickle(socket: Socket | ReturnType<typeof tlsConnect>, line: string, ms = 100): void {
  const timer = setInterval(() => socket.writable && socket.write(line), ms);
  socket.once("close", () => clearInterval(timer));
}

const sessionClosed = (s: ClientHttp2Session) => withLiveness(s.closed || s.destroyed ? Promise.resolve() : once(s, "close").then(() => undefined), "HTTP/2 session close");

describe("a plain port with short timeouts", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture({ server: { connections: SHORT } });
  });
  after(async () => {
    fx.release();
    await fx.server.close();
  });
  const port = () => fx.server.port;

  test("a connection that sends nothing is closed: the protocol sniffing is bounded", async () => {
    const got = await untilClosed(await openSocket(port()), "silent socket");
    assert.equal(got, "");
  });

  test("a half-sent HTTP/2 preface is closed", async () => {
    const s = await openSocket(port());
    s.write("PRI * HTTP/2.0\r\n");
    assert.equal(await untilClosed(s, "half preface"), "");
  });

  test("a request head trickled in (slowloris) gets 408 and the connection closes", async () => {
    const s = await openSocket(port());
    s.write("GET /generate?size=1 HTTP/1.1\r\nHost: localhost\r\n");
    trickle(s, "X-Slow: 1\r\n");
    assert.match(await untilClosed(s, "slowloris"), /^HTTP\/1\.1 408 /);
  });

  test("a request body trickled in gets 408 and the connection closes", async () => {
    const s = await openSocket(port());
    s.write('POST /seed HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"seeds":["');
    trickle(s, "00");
    assert.match(await untilClosed(s, "slow body"), /HTTP\/1\.1 408 /);
  });

  test("an idle keep-alive connection is closed after its request", async () => {
    const s = await openSocket(port());
    s.write("GET /generate?size=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const got = await untilClosed(s, "idle keep-alive");
    assert.match(got, /^HTTP\/1\.1 200 /);
    assert.equal(got.match(/HTTP\/1\.1 /g)?.length, 1);
  });

  test("an HTTP/2 session that opens no stream is closed (GOAWAY), and it was told the stream limit", async () => {
    const session = h2Connect(fx.base);
    session.on("error", () => undefined);
    await once(session, "remoteSettings");
    assert.equal(session.remoteSettings.maxConcurrentStreams, SHORT.maxConcurrentStreams);
    const goaway = once(session, "goaway");
    await sessionClosed(session);
    await goaway;
  });

  test("an HTTP/2 session whose only stream waits for its answer longer than the idle timeout stays open", async () => {
    const own = await startFixture({ server: { connections: SHORT } });
    const session = h2Connect(own.base);
    try {
      // A call whose answer waits (GetInfo waits for release) three idle timeouts.
      const info = session.request({ ":method": "GET", ":path": "/info" });
      info.setEncoding("utf8");
      let body = "";
      info.on("data", (d: string) => (body += d));
      await own.slowStarted;
      await new Promise((r) => setTimeout(r, 3 * SHORT.idleTimeoutMs));
      assert.equal(session.closed || session.destroyed, false, "the session is busy, not idle");
      own.release();
      await withLiveness(once(info, "end"), "the waiting answer");
      assert.match(body, /"service":"fixture"/);
    } finally {
      session.destroy();
      own.release();
      await own.server.close();
    }
  });

  test("a server stream read slowly outlives the request timeout", async () => {
    const session = h2Connect(fx.base);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/lokey.fortuna.v1.FortunaService/StreamRandom", "content-type": "application/grpc", te: "trailers" });
      stream.end(Buffer.from([0, 0, 0, 0, 0])); // an empty StreamRandomRequest
      await withLiveness(once(stream, "data"), "first message");
      stream.pause();
      await new Promise((r) => setTimeout(r, 1.5 * SHORT.requestTimeoutMs));
      stream.resume();
      await withLiveness(once(stream, "data"), "a message after the request timeout");
      assert.equal(stream.closed, false, "not reset by the request timeout");
      stream.close();
    } finally {
      session.destroy();
    }
  });
});

describe("connections per client address", () => {
  test("a client beyond its cap is closed at once; its other connections work, and a freed one is reusable", async () => {
    const fx = await startFixture({ server: { connections: { maxConnectionsPerClient: 3 } } });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) sockets.push(await openSocket(fx.server.port));
      // Each of the three is served.
      for (const s of sockets) {
        s.write("GET /generate?size=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
        const [d] = (await withLiveness(once(s, "data"), "an answer")) as [Buffer];
        assert.match(d.toString("latin1"), /^HTTP\/1\.1 200 /);
      }
      const fourth = await openSocket(fx.server.port);
      fourth.write("GET /generate?size=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(await untilClosed(fourth, "the connection over the cap"), "");
      sockets.pop()!.destroy();
      // The server counts the freed connection once it saw it close; a new one is then served.
      const res = await withLiveness(
        (async () => {
          for (;;) {
            const s = await openSocket(fx.server.port);
            s.write("GET /generate?size=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            const got = await untilClosed(s, "a new connection");
            if (got !== "") return got;
          }
        })(),
        "a connection after one was freed",
      );
      assert.match(res, /^HTTP\/1\.1 200 /);
    } finally {
      for (const s of sockets) s.destroy();
      fx.release();
      await fx.server.close();
    }
  });

  test("a trusted proxy is not capped: it carries many clients", async () => {
    const trustedProxies = new BlockList();
    trustedProxies.addAddress("127.0.0.1");
    const fx = await startFixture({ server: { connections: { maxConnectionsPerClient: 2 }, security: { allowedClients: [], trustedProxies } } });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) sockets.push(await openSocket(fx.server.port));
      for (const s of sockets) {
        s.write("GET /generate?size=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
        const [d] = (await withLiveness(once(s, "data"), "an answer")) as [Buffer];
        assert.match(d.toString("latin1"), /^HTTP\/1\.1 200 /);
      }
    } finally {
      for (const s of sockets) s.destroy();
      fx.release();
      await fx.server.close();
    }
  });
});

describe("a TLS port with short timeouts", () => {
  let pki: CertSet;
  let fx: Fixture;
  before(async () => {
    pki = makeCertSet("connections");
    const { cert, key } = pki.creds("fortuna");
    fx = await startFixture({ server: { connections: SHORT, security: { tls: { cert, key }, allowedClients: [] } } });
  });
  after(async () => {
    fx.release();
    await fx.server.close();
    pki.remove();
  });
  const tls = (alpn: string) => tlsConnect({ host: "127.0.0.1", port: fx.server.port, ca: pki.ca, servername: "localhost", ALPNProtocols: [alpn] });

  test("a TCP connection that never starts the handshake is closed", async () => {
    assert.equal(await untilClosed(await openSocket(fx.server.port), "no handshake"), "");
  });

  test("an HTTP/1.1 connection that sends nothing after the handshake is closed", async () => {
    const s = tls("http/1.1");
    await withLiveness(once(s, "secureConnect"), "handshake");
    assert.equal(await untilClosed(s, "silent TLS socket"), "");
  });

  test("a trickled request head gets 408 and the connection closes", async () => {
    const s = tls("http/1.1");
    await withLiveness(once(s, "secureConnect"), "handshake");
    s.write("GET /generate?size=1 HTTP/1.1\r\nHost: localhost\r\n");
    trickle(s, "X-Slow: 1\r\n");
    assert.match(await untilClosed(s, "TLS slowloris"), /^HTTP\/1\.1 408 /);
  });

  test("an idle HTTP/2 session is closed, and it was told the stream limit", async () => {
    const session = h2Connect(`https://localhost:${fx.server.port}`, { ca: pki.ca });
    session.on("error", () => undefined);
    await withLiveness(once(session, "remoteSettings"), "settings");
    assert.equal(session.remoteSettings.maxConcurrentStreams, SHORT.maxConcurrentStreams);
    await sessionClosed(session);
  });
});

describe("configuration", () => {
  const read = (env: Record<string, string>) => readCommonConfig(new EnvReader(env), 8080).connections;

  test("defaults, as documented", () => {
    assert.deepEqual(read({}), DEFAULT_CONNECTION_LIMITS);
    assert.deepEqual(DEFAULT_CONNECTION_LIMITS, { headersTimeoutMs: 60_000, requestTimeoutMs: 300_000, idleTimeoutMs: 60_000, maxConcurrentStreams: 100, maxConnectionsPerClient: 256 });
  });

  test("each variable is read", () => {
    assert.deepEqual(
      read({ HTTP_HEADERS_TIMEOUT_MS: "1000", HTTP_REQUEST_TIMEOUT_MS: "2000", HTTP_IDLE_TIMEOUT_MS: "3000", HTTP2_MAX_CONCURRENT_STREAMS: "7", MAX_CONNECTIONS_PER_CLIENT: "9" }),
      { headersTimeoutMs: 1000, requestTimeoutMs: 2000, idleTimeoutMs: 3000, maxConcurrentStreams: 7, maxConnectionsPerClient: 9 },
    );
  });

  for (const [variable, value] of [
    ["HTTP_HEADERS_TIMEOUT_MS", "soon"],
    ["HTTP_REQUEST_TIMEOUT_MS", "0"],
    ["HTTP_IDLE_TIMEOUT_MS", "-1"],
    ["HTTP2_MAX_CONCURRENT_STREAMS", "0"],
    ["MAX_CONNECTIONS_PER_CLIENT", "1.5"],
  ]) {
    test(`a bad ${variable} fails, naming it`, () => {
      assert.throws(() => read({ [variable]: value }), (e: ConfigError) => e instanceof ConfigError && e.variable === variable);
    });
  }

  test("a header timeout longer than the request timeout fails, naming it", () => {
    assert.throws(
      () => read({ HTTP_HEADERS_TIMEOUT_MS: "5000", HTTP_REQUEST_TIMEOUT_MS: "4000" }),
      (e: ConfigError) => e instanceof ConfigError && e.variable === "HTTP_HEADERS_TIMEOUT_MS",
    );
  });
});

describe("a service started as npm start starts it", () => {
  test("reads the variables: its HTTP/2 stream limit and idle timeout are the configured ones", async () => {
    const fortuna = await startProcess(mains.fortuna, { FORTUNA_SEED_FROM_OS: "true", HTTP2_MAX_CONCURRENT_STREAMS: "7", HTTP_IDLE_TIMEOUT_MS: "300" });
    try {
      const session = h2Connect(`http://127.0.0.1:${fortuna.port}`);
      session.on("error", () => undefined);
      await withLiveness(once(session, "remoteSettings"), "settings");
      assert.equal(session.remoteSettings.maxConcurrentStreams, 7);
      await sessionClosed(session);
    } finally {
      await fortuna.stop();
    }
  });

  test("refuses to start on a bad value, naming the variable", async () => {
    const exit = await runToExit(mains.fortuna, { FORTUNA_SEED_FROM_OS: "true", HTTP_REQUEST_TIMEOUT_MS: "forever" });
    assert.equal(exit.code, 2);
    assert.match(exit.stderr, /HTTP_REQUEST_TIMEOUT_MS/);
  });
});
