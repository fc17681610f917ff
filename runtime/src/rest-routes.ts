// The REST routes a proto declares: each method's `google.api.http` rule and
// its additional bindings (google/api/http.proto), as verb, path template and
// body field. The transcoder serves them and the OpenAPI document describes
// them, both from this one reading.
import { getOption, hasOption, type DescMethod, type Message } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import type { RestOptions } from "./rest-reply.js";

export interface HttpBinding {
  verb: string;
  path: string;
  /** "*": the whole body is the request; "": none (query parameters); else the one field the body fills. */
  body: string;
}

const VERBS = ["get", "put", "post", "delete", "patch"];

export function httpBindings(method: DescMethod): HttpBinding[] {
  if (!hasOption(method, http)) return [];
  const walk = (rule: HttpRule): HttpBinding[] => {
    const p = rule.pattern;
    const own: HttpBinding[] = [];
    if (p.case === "custom") own.push({ verb: p.value.kind.toUpperCase(), path: p.value.path, body: rule.body });
    else if (p.case && VERBS.includes(p.case)) own.push({ verb: p.case.toUpperCase(), path: p.value as string, body: rule.body });
    return [...own, ...rule.additionalBindings.flatMap(walk)];
  };
  return walk(getOption(method, http));
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

export function routesOf(method: DescMethod, handler: BoundHandler, rest: RestOptions): Route[] {
  return httpBindings(method).map(({ verb, path, body }) => ({ verb, segments: path.split("/").filter(Boolean), body, method, handler, rest }));
}

export interface RouteMatch {
  route: Route;
  /** Path variables, percent-decoded. */
  vars: Record<string, string>;
}

const VARIABLE = /^\{([\w.]+)(=[^}]*)?\}$/;
const NO_VARS: Record<string, string> = Object.freeze({}) as Record<string, string>;
/** Empty segments do not count: "/api//v1/data/" is "/api/v1/data". */
const canonical = (path: string) => (path.includes("//") || (path.length > 1 && path.endsWith("/")) ? "/" + path.split("/").filter(Boolean).join("/") : path);

/**
 * The routes by path: a literal path is one map lookup, so a request costs
 * the same however many routes there are; templates (`/a/{id}`) are
 * matched segment by segment.
 */
export class RouteTable {
  private readonly literal = new Map<string, RouteMatch[]>();
  private readonly templates: Route[] = [];

  constructor(private readonly routes: Route[]) {
    for (const r of routes) {
      if (r.segments.some((s) => s.startsWith("{"))) this.templates.push(r);
      else {
        const path = "/" + r.segments.join("/");
        this.literal.set(path, [...(this.literal.get(path) ?? []), { route: r, vars: NO_VARS }]);
      }
    }
  }

  list(): { verb: string; path: string; method: DescMethod }[] {
    return this.routes.map((r) => ({ verb: r.verb, path: "/" + r.segments.join("/"), method: r.method }));
  }

  /** Every route whose path matches `path` (a URL pathname). Throws URIError on a variable that is not percent-encoded UTF-8. */
  match(path: string): RouteMatch[] {
    const exact = this.literal.get(canonical(path)) ?? [];
    if (this.templates.length === 0) return exact;
    const parts = path.split("/").filter(Boolean);
    const found: RouteMatch[] = [];
    for (const route of this.templates) {
      const vars = matchTemplate(route.segments, parts);
      if (vars) found.push({ route, vars });
    }
    return [...exact, ...found];
  }
}

function matchTemplate(segments: string[], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const vars: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const m = VARIABLE.exec(segments[i]);
    if (m) vars[m[1]] = decodeURIComponent(parts[i]);
    else if (segments[i] !== parts[i]) return undefined;
  }
  return vars;
}
