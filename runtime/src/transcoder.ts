// REST/JSON transcoding driven by the `google.api.http` annotations in proto/:
// the route table, path/query/body mapping and error answers are generic; a
// service only supplies hooks where its documented shape is not the proto's.
import type { ServerResponse } from "node:http";
import { create, getOption, hasOption, type DescMessage, type DescMethod, type Message } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createHandlerContext, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { asConnectError, httpStatusOf } from "./errors.js";
import { jsonObject, messageFromRestJson, restJson, RestBodyError, type BytesEncoding } from "./rest-json.js";
import type { Logger } from "./log.js";
import { headersOf, parseBody, PayloadTooLarge, queryToJson, readBody, requirePresent, UnsupportedEncoding, type NodeRequest, type NodeResponse } from "./rest-request.js";
import { SendFlow, sendFlowKey } from "./send-flow.js";

export type { NodeRequest, NodeResponse };

/** A documented response: a JSON value, pre-rendered JSON text, or raw bytes. */
export interface RestReply {
  status?: number;
  headers?: Record<string, string>;
  /**
   * Uint8Array: sent raw; string: sent as-is (JSON unless headers say otherwise); else JSON.stringify.
   * Omitted: the response message in REST JSON, as without a render hook.
   */
  body?: unknown;
}

/** A render hook for health answers: the default JSON body, and 503 unless healthy, for probes that read the status code. */
export function healthReply(res: { status: string }): RestReply {
  return { status: res.status === "healthy" ? 200 : 503 };
}

export interface RestOptions {
  /** How bytes fields are spelled in REST JSON (default base64). */
  bytes?: BytesEncoding;
  /** Per method (local name): render the response the documented way. Streams: called per message. */
  render?: Record<string, (res: any) => RestReply>;
  /** Per method (local name): adapt the documented request JSON before it is parsed as the request message. */
  parse?: Record<string, (json: Record<string, unknown>) => Record<string, unknown>>;
}

/** A method handler as registered: request message in, response init (or stream of them) out. */
export type BoundHandler = (req: Message, ctx: HandlerContext) => unknown;

export interface Route {
  verb: string;
  segments: string[];
  body: string;
  method: DescMethod;
  handler: BoundHandler;
  rest: RestOptions;
}

const VERBS = ["get", "put", "post", "delete", "patch"] as const;

function bindingsOf(rule: HttpRule): { verb: string; path: string; body: string }[] {
  const out: { verb: string; path: string; body: string }[] = [];
  const p = rule.pattern;
  if (p.case && p.case !== "custom" && (VERBS as readonly string[]).includes(p.case)) {
    out.push({ verb: p.case.toUpperCase(), path: p.value as string, body: rule.body });
  } else if (p.case === "custom") {
    out.push({ verb: p.value.kind.toUpperCase(), path: p.value.path, body: rule.body });
  }
  for (const extra of rule.additionalBindings) out.push(...bindingsOf(extra));
  return out;
}

export function routesOf(method: DescMethod, handler: BoundHandler, rest: RestOptions): Route[] {
  if (!hasOption(method, http)) return [];
  return bindingsOf(getOption(method, http)).map(({ verb, path, body }) => ({
    verb,
    segments: path.split("/").filter(Boolean),
    body,
    method,
    handler,
    rest,
  }));
}

/** Matches `/a/{id}/b` style templates; returns captured variables or undefined. */
function match(route: Route, parts: string[]): Record<string, string> | undefined {
  if (route.segments.length !== parts.length) return undefined;
  const vars: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const seg = route.segments[i];
    const m = /^\{([\w.]+)(=[^}]*)?\}$/.exec(seg);
    if (m) vars[m[1]] = decodeURIComponent(parts[i]);
    else if (seg !== parts[i]) return undefined;
  }
  return vars;
}

export interface TranscoderOptions {
  maxRequestBytes: number;
  shutdownSignal: AbortSignal;
  log: Logger;
  /** The handler context's values: who calls, and the response's flow control (the server's, shared with Connect and gRPC). */
  contextValues: (req: NodeRequest) => ContextValues;
}

/**
 * HEAD (RFC 9110 §9.3.2) runs a GET route's method and drops the body, but
 * only for methods the proto marks free of side effects: a HEAD of a route
 * that takes data would take it and throw it away.
 */
const headAllowed = (r: Route) => r.verb === "GET" && r.method.idempotency === Idempotency.NO_SIDE_EFFECTS;

const NDJSON: RestReply = { headers: { "Content-Type": "application/x-ndjson" } };

export class Transcoder {
  constructor(
    private readonly routes: Route[],
    private readonly opts: TranscoderOptions,
  ) {}

  list(): { verb: string; path: string; method: DescMethod }[] {
    return this.routes.map((r) => ({ verb: r.verb, path: "/" + r.segments.join("/"), method: r.method }));
  }

  /**
   * Handles the request if a route's path matches; false lets the caller try
   * gRPC/Connect. `url` is the request's, with its own authority: access
   * rules compare it with a browser's Origin.
   */
  async handle(req: NodeRequest, res: NodeResponse, url: URL): Promise<boolean> {
    const parts = url.pathname.split("/").filter(Boolean);
    let candidates: { r: Route; vars: Record<string, string> | undefined }[];
    try {
      candidates = this.routes.map((r) => ({ r, vars: match(r, parts) })).filter((c) => c.vars);
    } catch {
      // decodeURIComponent: a path variable that is not percent-encoded UTF-8
      sendJson(res, 400, { error: `Malformed path ${url.pathname}` });
      return true;
    }
    if (candidates.length === 0) return false;
    const verb = req.method ?? "GET";
    const hit = candidates.find((c) => c.r.verb === verb) ?? (verb === "HEAD" ? candidates.find((c) => headAllowed(c.r)) : undefined);
    if (!hit) {
      const verbs = new Set(candidates.map((c) => c.r.verb));
      if (candidates.some((c) => headAllowed(c.r))) verbs.add("HEAD");
      const allow = [...verbs].join(", ");
      const why = verb === "HEAD" && verbs.has("GET") ? ": the GET takes data, so HEAD would take it too" : "";
      sendJson(res, 405, { error: `Method ${verb} not allowed on ${url.pathname} (allowed: ${allow})${why}` }, { Allow: allow });
      return true;
    }
    try {
      await this.invoke(hit.r, hit.vars!, url, req, res);
    } catch (err) {
      this.fail(res, err);
    }
    return true;
  }

  private async invoke(route: Route, vars: Record<string, string>, url: URL, req: NodeRequest, res: NodeResponse): Promise<void> {
    const schema = route.method.input;
    const json = jsonObject();
    if (route.body === "") {
      Object.assign(json, queryToJson(schema, url.searchParams));
    } else {
      const body = await readBody(req, this.opts.maxRequestBytes);
      const parsed = parseBody(body);
      if (route.body === "*") Object.assign(json, parsed);
      else json[route.body] = parsed;
    }
    Object.assign(json, vars);
    const adapted = route.rest.parse?.[route.method.localName]?.(json) ?? json;
    requirePresent(schema, adapted);
    // Body values must carry their fields' JSON types; query values are typed above.
    const request = messageFromRestJson(schema, adapted, route.rest.bytes ?? "base64", route.body !== "");

    const abort = new AbortController();
    res.on("close", () => abort.abort());
    const ctx = createHandlerContext({
      service: route.method.parent,
      method: route.method,
      protocolName: "rest",
      requestMethod: req.method ?? "GET",
      url: url.toString(),
      requestSignal: abort.signal,
      shutdownSignal: this.opts.shutdownSignal,
      requestHeader: headersOf(req),
      contextValues: this.opts.contextValues(req),
    });
    const render = route.rest.render?.[route.method.localName];
    const output = route.method.output;
    if (route.method.methodKind === "server_streaming") {
      await this.stream(route, render, output, ctx, route.handler(request, ctx) as AsyncIterable<unknown>, res, abort);
      return;
    }
    const result = create(output, (await route.handler(request, ctx)) as never);
    const reply = render?.(result) ?? {};
    send(res, { ...reply, body: reply.body ?? restJson(output, result, route.rest) });
  }

  // Streams answer with chunked HTTP; each message is written only after the
  // previous one drained, so a slow reader slows the producer. The head goes
  // out with the first message, or as soon as a handler that waits for the
  // client's flow control first waits (runtime/src/send-flow.ts), which may
  // be before it has anything to send: its headers are the render hook's for
  // an empty message.
  private async stream(
    route: Route,
    render: ((res: any) => RestReply) | undefined,
    output: DescMessage,
    ctx: HandlerContext,
    source: AsyncIterable<unknown>,
    res: NodeResponse,
    abort: AbortController,
  ): Promise<void> {
    let started = false;
    const head = (reply: RestReply) => {
      if (started) return;
      started = true;
      res.writeHead(reply.status ?? 200, { ...reply.headers });
    };
    const flow = ctx.values.get(sendFlowKey);
    if (flow instanceof SendFlow) {
      flow.onCommit(() => {
        head(render?.(create(output)) ?? NDJSON);
        // HTTP/1.1 would hold the head back until the first body bytes.
        (res as ServerResponse).flushHeaders?.();
      });
    }
    try {
      for await (const item of source) {
        const msg = create(output, item as never);
        const reply = render?.(msg) ?? NDJSON;
        const body = reply.body ?? restJson(output, msg, route.rest) + "\n";
        head(reply);
        const chunk = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body) + "\n";
        if (!(res as ServerResponse).write(chunk)) await drained(res, abort.signal);
        if (abort.signal.aborted) break;
      }
      if (!started) res.writeHead(200, { "Content-Type": "application/octet-stream" });
      res.end();
    } catch (err) {
      if (!started) throw err;
      this.opts.log.warn("REST stream ended by error", { route: route.method.localName, error: asConnectError(err).message });
      (res as ServerResponse).destroy();
    }
  }

  private fail(res: NodeResponse, err: unknown): void {
    if (res.headersSent) {
      (res as ServerResponse).destroy();
      return;
    }
    // An unreadable body (an oversized one too: the original's JSON decoder
    // fails on the cut-off body) answers the documented body exactly; what
    // was wrong goes in a header, beside the shape scripts compare against.
    if (err instanceof UnsupportedEncoding) {
      // RFC 9110 §15.5.16; Accept-Encoding in the answer names what is (§12.5.3).
      sendJson(res, 415, { error: err.message }, { "Accept-Encoding": err.supported });
      return;
    }
    if (err instanceof RestBodyError || err instanceof PayloadTooLarge) {
      const detail = err instanceof RestBodyError ? err.detail : err.message;
      sendJson(res, 400, { error: "Invalid request body" }, { [ERROR_DETAIL_HEADER]: headerSafe(detail) });
      return;
    }
    const ce = asConnectError(err);
    if (ce.code === Code.Internal || ce.code === Code.Unknown) this.opts.log.error("REST handler failed", { error: ce.cause ?? ce });
    const headers: Record<string, string> = {};
    // The error's metadata (e.g. Retry-After on RESOURCE_EXHAUSTED) is what
    // Connect and gRPC send as headers; REST sends it too.
    ce.metadata.forEach((value, name) => (headers[name] = value));
    sendJson(res, httpStatusOf(ce.code), { error: ce.rawMessage }, headers);
  }
}

function drained(res: NodeResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.on("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

export function send(res: NodeResponse, reply: RestReply): void {
  const headers: Record<string, string> = { ...reply.headers };
  let body: string | Uint8Array;
  if (reply.body instanceof Uint8Array) {
    body = reply.body;
    headers["Content-Type"] ??= "application/octet-stream";
  } else {
    body = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
    headers["Content-Type"] ??= "application/json; charset=utf-8";
  }
  headers["Content-Length"] = String(Buffer.byteLength(body));
  res.writeHead(reply.status ?? 200, headers);
  res.end(body);
}

/** Why a request body was refused; the documented JSON body only says "Invalid request body". */
export const ERROR_DETAIL_HEADER = "X-Error-Detail";

/** Header values are Latin-1 without control characters; anything else becomes "?". */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);

export function sendJson(res: NodeResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, { status, headers, body: value });
}

export { ConnectError };
