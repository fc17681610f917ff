// Connection hygiene for every port: how long a client may take to send its
// request, how long a connection may sit idle, how many streams one HTTP/2
// connection may open, and how many connections one client address may hold.
// Without these, slow or idle clients hold sockets (and memory) forever.
import type { Server as Http1Server } from "node:http";
import { constants as h2, type Http2SecureServer, type Http2Session, type Http2Server, type ServerHttp2Stream } from "node:http2";
import type { BlockList, Server as NetServer, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "./log.js";
import { plainAddress } from "./peer.js";

export interface ConnectionLimits {
  /**
   * How long a client may take over a request head: from the accept, the
   * first bytes that tell HTTP/2 from HTTP/1.1 on a plain port, or the TLS
   * handshake and then the first bytes; from their first byte, HTTP/1.1 headers.
   */
  headersTimeoutMs: number;
  /** The whole request (head and body) must arrive within this; the response may take longer (streams). */
  requestTimeoutMs: number;
  /** A connection with no request in flight is closed after this long (HTTP/1.1 keep-alive; HTTP/2 sessions without open streams). */
  idleTimeoutMs: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2) of every HTTP/2 connection. */
  maxConcurrentStreams: number;
  /** Open connections per client address; more are closed at once. Trusted proxies are not counted. */
  maxConnectionsPerClient: number;
}

/** The defaults documented in README.md (configuration) and docs/security.md. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 60_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
  maxConcurrentStreams: 100,
  maxConnectionsPerClient: 256,
};

/**
 * Node checks its HTTP/1.1 header and request timeouts on a timer with this
 * period (docs: server.connectionsCheckingInterval); a quarter of the header
 * timeout enforces it within 25%.
 */
const checkingIntervalOf = (l: ConnectionLimits) => Math.min(30_000, Math.max(25, Math.floor(l.headersTimeoutMs / 4)));

/** Options of the HTTP/1.1 server behind a plain port. */
export function http1Options(l: ConnectionLimits) {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.idleTimeoutMs,
    connectionsCheckingInterval: checkingIntervalOf(l),
  };
}

/** HTTP/2 settings every port announces. */
export const http2Settings = (l: ConnectionLimits) => ({ maxConcurrentStreams: l.maxConcurrentStreams });

/**
 * Node checks an http.Server's header and request timeouts on a timer
 * (docs: server.headersTimeout, server.requestTimeout,
 * connectionsCheckingInterval) that it starts when the server starts
 * listening. The HTTP/1.1 server a plain port hands its sockets to never
 * listens itself, so without this no handed-over connection ever timed out;
 * its 'listening' event starts the checks. runtime/test/connections.test.ts
 * holds Node to it (a 408 to a slow request head).
 */
export function startHttp1Timeouts(h1: Http1Server): void {
  h1.emit("listening");
}

/**
 * HTTP/1.1 over TLS is served by the HTTP/2 server (allowHTTP1), which reads
 * the same timeout properties an http.Server has.
 */
export function applyTlsTimeouts(server: Http2SecureServer, l: ConnectionLimits): void {
  const s = server as unknown as Record<string, number>;
  s.headersTimeout = l.headersTimeoutMs;
  s.requestTimeout = l.requestTimeoutMs;
  s.keepAliveTimeout = l.idleTimeoutMs;
  s.connectionsCheckingInterval = checkingIntervalOf(l);
}

export class ConnectionGuard {
  private readonly perAddress = new Map<string, number>();
  /** Addresses over their cap that were already logged (one line per episode, not per refused socket). */
  private readonly logged = new Set<string>();

  constructor(
    readonly limits: ConnectionLimits,
    private readonly log: Logger,
    private readonly trustedProxies?: BlockList,
  ) {}

  /** Counts every accepted socket of `server`, before anything else sees it, and closes those over the cap. */
  guard(server: NetServer): void {
    server.prependListener("connection", (socket: Socket) => this.admit(socket));
  }

  private admit(socket: Socket): void {
    const address = plainAddress(socket.remoteAddress ?? "");
    if (this.exempt(address)) return;
    const open = this.perAddress.get(address) ?? 0;
    if (open >= this.limits.maxConnectionsPerClient) {
      if (!this.logged.has(address)) {
        this.logged.add(address);
        this.log.warn("connection refused: too many from one address", { client: address, open, limit: this.limits.maxConnectionsPerClient });
      }
      socket.destroy();
      return;
    }
    this.perAddress.set(address, open + 1);
    socket.once("close", () => {
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, n);
      if (n < this.limits.maxConnectionsPerClient) this.logged.delete(address);
    });
  }

  private exempt(address: string): boolean {
    if (!this.trustedProxies || address === "") return false;
    try {
      return this.trustedProxies.check(address, address.includes(":") ? "ipv6" : "ipv4");
    } catch {
      return false;
    }
  }

  /**
   * A socket that has been accepted but has not shown what it speaks yet is
   * closed after the header timeout. Returns the cancel function.
   */
  deadline(socket: Socket): () => void {
    const timer = setTimeout(() => socket.destroy(), this.limits.headersTimeoutMs);
    timer.unref();
    const cancel = () => clearTimeout(timer);
    socket.once("close", cancel);
    return cancel;
  }

  /**
   * TLS ports: the handshake is bounded by the tls option handshakeTimeout;
   * an HTTP/1.1 connection must then send its first bytes within the header
   * timeout (Node's own checks start with the first request). HTTP/2
   * sessions are watched by watchSession.
   */
  watchTls(server: Http2SecureServer): void {
    server.on("secureConnection", (socket: TLSSocket) => {
      if (socket.alpnProtocol === "h2") return;
      const cancel = this.deadline(socket);
      socket.once("data", cancel);
    });
  }

  /** HTTP/2: idle sessions close (GOAWAY), and each stream's request must be complete in time. */
  watchSessions(server: Http2Server | Http2SecureServer): void {
    server.on("session", (session: Http2Session) => this.watchSession(session));
  }

  private watchSession(session: Http2Session): void {
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    // A session with an open stream is busy even when nothing flows (a
    // long-lived stream waiting for data, or stalled by flow control).
    const arm = () => {
      idle = setTimeout(() => session.close(), this.limits.idleTimeoutMs);
      idle.unref();
    };
    session.on("stream", (stream: ServerHttp2Stream) => {
      open++;
      clearTimeout(idle);
      const request = setTimeout(() => {
        // RFC 9113 §5.1: "half-closed (remote)" once the client sent END_STREAM.
        if (!stream.destroyed && !stream.state.remoteClose) stream.close(h2.NGHTTP2_CANCEL);
      }, this.limits.requestTimeoutMs);
      request.unref();
      stream.once("close", () => {
        clearTimeout(request);
        if (--open === 0 && !session.closed && !session.destroyed) arm();
      });
    });
    session.once("close", () => clearTimeout(idle));
    arm();
  }
}
