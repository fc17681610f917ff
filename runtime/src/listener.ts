// One port for every protocol: HTTP/2 (gRPC, h2c Connect) and HTTP/1.1 (REST,
// curl, gRPC-Web, Connect). Plain-text HTTP/2 clients open with a fixed
// preface, so the first bytes of a connection say which server gets it.
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Server as Http1Server } from "node:http";
import { createSecureServer, type Http2SecureServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { applyTlsTimeouts, http2Settings, startHttp1Timeouts, type ConnectionGuard } from "./connections.js";
import type { TlsFiles } from "./security-config.js";

// RFC 9113 §3.4: the client connection preface.
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * A plain port. `guard` counts connections per client and bounds the sniffing:
 * a socket that has not sent enough to tell the protocols apart within the
 * header timeout is closed (a silent or trickling client would hold it forever).
 */
export function createDualListener(h1: Http1Server, h2: Http2Server, guard: ConnectionGuard): NetServer {
  startHttp1Timeouts(h1);
  // noDelay: Nagle off, as node:http's own listener has it by default; an answer
  // written in two pieces (a stream's head, then its data) must not wait for an ACK.
  const server = createNetServer({ pauseOnConnect: true, noDelay: true }, (socket: Socket) => {
    if (socket.destroyed) return; // refused by the guard
    const cancelDeadline = guard.deadline(socket);
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, HTTP2_PREFACE.length);
      const isH2Prefix = seen.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (isH2Prefix && seen.length < HTTP2_PREFACE.length) return; // wait for the rest of the preface
      cancelDeadline();
      socket.off("data", onData);
      socket.off("error", onEarlyError);
      socket.pause();
      socket.unshift(seen);
      (isH2Prefix ? h2 : h1).emit("connection", socket);
      // http2 drains what we unshifted itself; the HTTP/1 parser reads the handle
      // directly and gets the unshifted bytes only through 'data', so let it flow.
      if (!isH2Prefix) socket.resume();
    };
    const onEarlyError = () => socket.destroy();
    socket.on("data", onData);
    socket.on("error", onEarlyError);
    socket.resume();
  });
  guard.guard(server);
  return server;
}

/**
 * A TLS port: ALPN picks HTTP/2 (gRPC, Connect) or HTTP/1.1 (REST, gRPC-Web).
 * With a client CA, every client is asked for a certificate but the handshake
 * does not fail without one: health and reflection stay open, and the access
 * rule of each method decides (runtime/src/access.ts).
 */
export function createTlsListener(
  tls: TlsFiles,
  handler: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  guard: ConnectionGuard,
): Http2SecureServer {
  const limits = guard.limits;
  const server = createSecureServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(tls.clientCa && { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }),
      // Node then offers ALPN h2 and http/1.1 itself.
      allowHTTP1: true,
      minVersion: "TLSv1.2",
      handshakeTimeout: limits.headersTimeoutMs,
      settings: http2Settings(limits),
    },
    handler,
  );
  applyTlsTimeouts(server, limits);
  guard.guard(server);
  guard.watchTls(server);
  return server;
}
