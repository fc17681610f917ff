// REST/JSON transcoding driven by the `google.api.http` annotations in proto/:
// the route table (rest-routes.ts), path/query/body mapping and the answers
// (rest-reply.ts, rest-stream.ts) are generic; a service only supplies hooks
// where its documented shape is not the proto's.
import { create, type DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { ConnectError, type ContextValues } from "@connectrpc/connect";
import type { Logger } from "./log.js";
import { RestCalls } from "./rest-context.js";
import { jsonObject, restJson } from "./rest-json.js";
import { messageFromRestJson } from "./rest-parse.js";
import { send, sendError, sendJson, type RestOptions, type RestReply } from "./rest-reply.js";
import { noteRoute } from "./request-outcome.js";
import { parseBody, queryToJson, readBody, type NodeRequest, type NodeResponse } from "./rest-request.js";
import { RouteTable, type Route, type RouteMatch } from "./rest-routes.js";
import { streamReply } from "./rest-stream.js";
import { writtenKeysKey } from "./rules.js";

export type { NodeRequest, NodeResponse, RestOptions, RestReply };
export { healthReply, send, sendJson, ERROR_DETAIL_HEADER } from "./rest-reply.js";
export { routesOf, type BoundHandler, type Route } from "./rest-routes.js";
export { ConnectError };

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

export class Transcoder {
  private readonly table: RouteTable;
  private readonly calls: RestCalls;
  /** Each route's metrics label: verb and path template (request-outcome.ts). */
  private readonly labels = new Map<Route, string>();

  constructor(
    routes: Route[],
    private readonly opts: TranscoderOptions,
  ) {
    this.table = new RouteTable(routes);
    this.calls = new RestCalls(opts.shutdownSignal);
    for (const r of routes) this.labels.set(r, `${r.verb} /${r.segments.join("/")}`);
  }

  list(): { verb: string; path: string; method: DescMethod }[] {
    return this.table.list();
  }

  /**
   * Handles the request if a route's path matches; false lets the caller try
   * gRPC/Connect. `url` is the request's, parsed once by the server, with its
   * own authority: access rules compare it with a browser's Origin.
   */
  async handle(req: NodeRequest, res: NodeResponse, url: URL): Promise<boolean> {
    let candidates: RouteMatch[];
    try {
      candidates = this.table.match(url.pathname);
    } catch {
      // decodeURIComponent: a path variable that is not percent-encoded UTF-8
      sendJson(res, 400, { error: `Malformed path ${url.pathname}` });
      return true;
    }
    if (candidates.length === 0) return false;
    const verb = req.method ?? "GET";
    const hit = candidates.find((c) => c.route.verb === verb) ?? (verb === "HEAD" ? candidates.find((c) => headAllowed(c.route)) : undefined);
    if (!hit) {
      // The template alone: the verb is the client's choice, and labels stay a bounded set.
      noteRoute(res, "rest", "/" + candidates[0].route.segments.join("/"));
      const verbs = new Set(candidates.map((c) => c.route.verb));
      if (candidates.some((c) => headAllowed(c.route))) verbs.add("HEAD");
      const allow = [...verbs].join(", ");
      const why = verb === "HEAD" && verbs.has("GET") ? ": the GET takes data, so HEAD would take it too" : "";
      sendJson(res, 405, { error: `Method ${verb} not allowed on ${url.pathname} (allowed: ${allow})${why}` }, { Allow: allow });
      return true;
    }
    noteRoute(res, "rest", this.labels.get(hit.route)!);
    try {
      await this.invoke(hit, url, req, res);
    } catch (err) {
      sendError(res, err, this.opts.log);
    }
    return true;
  }

  private async invoke({ route, vars }: RouteMatch, url: URL, req: NodeRequest, res: NodeResponse): Promise<void> {
    const { method, rest } = route;
    const schema = method.input;
    let json = jsonObject();
    if (route.body === "") {
      if (url.search !== "") Object.assign(json, queryToJson(schema, url.searchParams));
    } else {
      const parsed = parseBody(await readBody(req, this.opts.maxRequestBytes));
      if (route.body === "*") json = parsed;
      else json[route.body] = parsed;
    }
    for (const k in vars) json[k] = vars[k];
    const adapted = rest.parse?.[method.localName]?.(json) ?? json;
    // Body values must carry their fields' JSON types; query values are typed above.
    const request = messageFromRestJson(schema, adapted, rest.bytes ?? "base64", route.body !== "");
    // What the rules check needs to tell a missing field from a zero one (rules.ts).
    const values = this.opts.contextValues(req).set(writtenKeysKey, writtenKeys(adapted));
    const ctx = this.calls.open(method, req, res, url, values);
    const render = rest.render?.[method.localName];
    const output = method.output;
    if (method.methodKind === "server_streaming") {
      const source = route.handler(request, ctx) as AsyncIterable<unknown>;
      await streamReply({ output, rest, render, ctx, source, res, log: this.opts.log, name: method.localName });
      return;
    }
    const result = create(output, (await route.handler(request, ctx)) as never);
    const reply = render?.(result);
    send(res, reply ? (reply.body === undefined ? { ...reply, body: restJson(output, result, rest) } : reply) : { body: restJson(output, result, rest) });
  }
}

/** The keys given a value (a JSON null is no value). */
function writtenKeys(json: Record<string, unknown>): Set<string> {
  const keys = new Set<string>();
  for (const k in json) if (json[k] !== null && json[k] !== undefined) keys.add(k);
  return keys;
}
