// The service runtime: every LoKey service is a set of proto service bindings
// served here as gRPC, gRPC-Web, Connect and REST on one port, with health,
// reflection, rule validation, CORS and graceful shutdown.
import { setMaxListeners } from "node:events";
import { createServer as createHttp1Server, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type Http2Session } from "node:http2";
import type { Socket } from "node:net";
import type { DescMethod, DescService, Message } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { healthImpl, HealthRegistry } from "./health.js";
import { authorize, serviceIdentityOf, type AccessPolicy } from "./access.js";
import { ConnectionGuard, DEFAULT_CONNECTION_LIMITS, http1Options, http2Settings, type ConnectionLimits } from "./connections.js";
import { CorsPolicy } from "./cors.js";
import { createDualListener, createTlsListener } from "./listener.js";
import { connectionOf, isForwarded, peerContextValues, peerFromRequest, type Peer } from "./peer.js";
import { requestUrl } from "./request-target.js";
import { metricsRegistry, requestTracker } from "./request-metrics.js";
import { clientGone, noteRoute } from "./request-outcome.js";
import { createRpcAdapter } from "./rpc-adapter.js";
import { sendFlowFor, sendFlowKey } from "./send-flow.js";
import type { SecurityConfig } from "./security-config.js";
import type { Logger } from "./log.js";
import { ReflectionIndex, reflectionV1AlphaImpl, reflectionV1Impl, ReflectionV1, ReflectionV1Alpha } from "./reflection.js";
import { defaultsSetter, validateRules, writtenKeysKey } from "./rules.js";
import { throwJsonIssue } from "./json-enums.js";
import type { Registry } from "prom-client";
import { routesOf, send, sendJson, Transcoder, type BoundHandler, type NodeRequest, type NodeResponse, type RestOptions } from "./transcoder.js";

export interface ServiceBinding<S extends DescService = DescService> {
  service: S;
  impl: Partial<ServiceImpl<S>>;
  rest?: RestOptions;
}

/** Binds with the implementation's types checked against the service. */
export function bind<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>, rest?: RestOptions): ServiceBinding {
  return { service, impl, rest } as unknown as ServiceBinding;
}

/** An endpoint that is not an RPC (static files, documents). `path` ending in "/" matches a prefix, but "/" is the root page alone. */
export interface RawRoute {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  /** `url`: the request's, parsed once by the server. */
  handler: (req: NodeRequest, res: NodeResponse, url: URL) => void | Promise<void>;
}

const rawRouteMatches = (route: string, path: string) => (route.endsWith("/") && route !== "/" ? path.startsWith(route) : path === route);

export interface ServerOptions {
  /** Service name for logs ("fortuna"). */
  name: string;
  port: number;
  host?: string;
  log: Logger;
  bindings: ServiceBinding[];
  health?: HealthRegistry;
  rawRoutes?: RawRoute[];
  /** Answer CORS preflights and add the documented CORS headers to every response. */
  cors?: boolean;
  /** Largest request body or message on any protocol (default 4 MiB). */
  maxRequestBytes?: number;
  /** Longest wait for in-flight requests at shutdown (default 10 s). */
  shutdownTimeoutMs?: number;
  /** Timeouts and per-client limits of connections (runtime/src/connections.ts; defaults there). */
  connections?: Partial<ConnectionLimits>;
  /** TLS, client verification, trusted proxies, admin token (runtime/src/security-config.ts); unset: plain, loopback-only rules. */
  security?: SecurityConfig;
  /** Runs after the listener closed and requests finished: stop loops, close stores. */
  onClose?: () => void | Promise<void>;
  /**
   * The service's Prometheus registry; the request metrics join it
   * (request-metrics.ts). Unset: one with the process metrics. Served at
   * GET /metrics unless a REST route has that path (the gateway's GetMetrics).
   */
  metrics?: Registry;
  /** One log line per request (ACCESS_LOG; runtime/src/access-log.ts). */
  accessLog?: boolean;
}

export interface RunningServer {
  port: number;
  health: HealthRegistry;
  transcoder: Transcoder;
  metrics: Registry;
  /** Graceful: stop accepting, NOT_SERVING, finish in-flight (bounded), then onClose. Idempotent. */
  close(): Promise<void>;
}

// The access rule, then validation and the proto's defaults, wrap each
// handler once, so gRPC, Connect and REST all enforce the proto's rules
// before any service code runs: the one validation pass (rules.ts).
function guarded(method: DescMethod, fn: (req: Message, ctx: HandlerContext) => unknown, policy: AccessPolicy): BoundHandler {
  const setDefaults = defaultsSetter(method.input);
  const check = (req: Message, ctx: HandlerContext) => {
    authorize(method, ctx, policy);
    // An enum name Connect JSON decoding dropped, before the rules call the field missing.
    throwJsonIssue(ctx.values);
    validateRules(method.input, req, ctx.values.get(writtenKeysKey));
    setDefaults(req);
  };
  if (method.methodKind === "server_streaming") {
    return async function* (req: Message, ctx: HandlerContext) {
      check(req, ctx);
      yield* fn(req, ctx) as AsyncIterable<unknown>;
    };
  }
  return (req, ctx) => {
    check(req, ctx);
    return fn(req, ctx);
  };
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log;
  const health = opts.health ?? new HealthRegistry();
  const maxRequestBytes = opts.maxRequestBytes ?? 4 * 1024 * 1024;
  const shutdown = new AbortController();
  // Every in-flight request listens for shutdown (removed when it ends), so
  // more than 10 at once is normal load, not a leak.
  setMaxListeners(0, shutdown.signal);

  const security = opts.security ?? { allowedClients: [] };
  const policy: AccessPolicy = { clientCa: !!security.tls?.clientCa, allowedClients: security.allowedClients, adminToken: security.adminToken };
  // Who calls, with the service identity the port's rule gives it: once per
  // connection while its requests name no other client (then the socket's
  // address and certificate are all it depends on), else once per request.
  const peers = new WeakMap<object, Peer>();
  const peerOfRequest = (req: NodeRequest): Peer => {
    const forwarded = isForwarded(req);
    let peer = forwarded ? undefined : peers.get(connectionOf(req));
    if (!peer) {
      peer = peerFromRequest(req, security.trustedProxies);
      peer.service = serviceIdentityOf(peer, policy);
      if (!forwarded) peers.set(connectionOf(req), peer);
    }
    return peer;
  };
  // What every handler context carries: the peer, and its response's flow control.
  const responses = new WeakMap<NodeRequest, NodeResponse>();
  const contextValues = (req: NodeRequest) => {
    const values = peerContextValues(peerOfRequest(req));
    const res = responses.get(req);
    return res ? values.set(sendFlowKey, sendFlowFor(req, res)) : values;
  };
  const bound = opts.bindings.map((b) => {
    const impl: Record<string, BoundHandler> = {};
    for (const m of b.service.methods) {
      const fn = (b.impl as Record<string, ((req: Message, ctx: HandlerContext) => unknown) | undefined>)[m.localName];
      if (fn) impl[m.localName] = guarded(m, fn.bind(b.impl), policy);
    }
    return { ...b, impl };
  });
  const reflection = new ReflectionIndex([...bound.map((b) => b.service), Health]);
  const transcoder = new Transcoder(
    bound.flatMap((b) => b.service.methods.filter((m) => b.impl[m.localName]).flatMap((m) => routesOf(m, b.impl[m.localName], b.rest ?? {}))),
    { maxRequestBytes, shutdownSignal: shutdown.signal, log, contextValues },
  );

  const rpc = createRpcAdapter({
    routes(router: ConnectRouter) {
      for (const b of bound) router.service(b.service, b.impl as never);
      router.service(Health, healthImpl(health));
      router.service(ReflectionV1, reflectionV1Impl(reflection));
      router.service(ReflectionV1Alpha, reflectionV1AlphaImpl(reflection));
    },
    readMaxBytes: maxRequestBytes,
    contextValues,
    log,
    // Compressed requests are still accepted, but answers go out uncompressed:
    // they are mostly random bytes, which gzip only slows down (3-10x on streams).
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    shutdownSignal: shutdown.signal,
  });

  const metrics = opts.metrics ?? metricsRegistry();
  const track = requestTracker({ registry: metrics, log, accessLog: opts.accessLog ?? false, clientOf: (req) => peerOfRequest(req).address });
  const rawRoutes = [...(opts.rawRoutes ?? [])];
  if (!transcoder.list().some((r) => r.verb === "GET" && r.path === "/metrics")) {
    rawRoutes.push({ method: "GET", path: "/metrics", handler: async (_req, res) => send(res, { headers: { "Content-Type": metrics.contentType }, body: await metrics.metrics() }) });
  }

  const cors = opts.cors ? new CorsPolicy(transcoder.list(), bound.flatMap((b) => b.service.methods)) : undefined;

  let inFlight = 0;
  let idle: (() => void) | undefined;
  const handler = async (req: NodeRequest, res: NodeResponse) => {
    inFlight++;
    const counted = track(req, res);
    res.once("close", () => {
      counted();
      if (--inFlight === 0) idle?.();
    });
    responses.set(req, res);
    try {
      const url = requestUrl(req);
      if (!url) return sendJson(res, 400, { error: "Malformed request target or Host" });
      const path = url.pathname;
      if (cors?.apply(req, res, path)) return noteRoute(res, "http", "preflight");
      const raw = rawRoutes.find((r) => r.method === req.method && rawRouteMatches(r.path, path));
      if (raw) {
        noteRoute(res, "http", `${raw.method} ${raw.path}`);
        return void (await raw.handler(req, res, url));
      }
      if (await transcoder.handle(req, res, url)) return;
      if (!rpc(req, res, url)) sendJson(res, 404, { error: `Not found: ${req.method} ${path}` });
    } catch (err) {
      // A client that went away is the request tracker's one line, not an error.
      if (clientGone(res)) return;
      log.error("request failed", { error: err });
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else (res as ServerResponse).destroy();
    }
  };

  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...opts.connections };
  const guard = new ConnectionGuard(limits, log, security.trustedProxies);
  const h1 = createHttp1Server(http1Options(limits), handler);
  const h2 = security.tls ? createTlsListener(security.tls, handler as never, guard) : createHttp2Server({ settings: http2Settings(limits) }, handler);
  guard.watchSessions(h2);
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  h2.on("session", (s: Http2Session) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  // Plain ports tell HTTP/2 from HTTP/1.1 by the preface; TLS ports by ALPN.
  const listener = security.tls ? h2 : createDualListener(h1, h2, guard);
  listener.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host ?? "0.0.0.0", () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const address = listener.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  log.info("listening", { port, tls: !!security.tls, clientCertificates: !!security.tls?.clientCa, services: bound.map((b) => b.service.typeName), routes: transcoder.list().length });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      log.info("shutting down", { inFlight });
      health.shutdown();
      listener.close();
      for (const s of sessions) s.close(); // GOAWAY: no new streams, running ones finish
      // Also stops its timeout checks (a plain port's HTTP/1.1 server never listens itself).
      h1.close(() => undefined);
      // Long-lived streams end when the shutdown signal aborts; unary calls run to completion.
      shutdown.abort();
      const timeout = opts.shutdownTimeoutMs ?? 10_000;
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          idle = resolve;
          setTimeout(resolve, timeout).unref();
        });
      }
      if (inFlight > 0) log.warn("shutdown timeout: closing connections with requests in flight", { inFlight });
      for (const s of sockets) s.destroy();
      try {
        await opts.onClose?.();
      } catch (err) {
        log.error("error while closing", { error: err });
      }
      log.info("stopped");
    })());
  return { port, health, transcoder, metrics, close };
}
