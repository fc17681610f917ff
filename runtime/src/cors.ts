// The documented CORS of the public API (Access-Control-Allow-Origin: *), but
// never for a method with an access rule: a web page must not be able to make
// a visitor's browser change the gateway's configuration or drain entropy,
// least of all a browser on the device itself, which counts as loopback
// (docs/security.md; the Fetch standard's CORS protocol).
import type { DescMethod } from "@bufbuild/protobuf";
import { Access, accessOf } from "./access.js";
import type { NodeRequest, NodeResponse } from "./transcoder.js";

const CORS_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers":
    "Content-Type, Authorization, Accept, Connect-Protocol-Version, Connect-Timeout-Ms, Grpc-Timeout, X-Grpc-Web, X-User-Agent, X-API-Key",
  "Access-Control-Expose-Headers":
    "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, Content-Disposition, X-Error-Detail, Retry-After, RateLimit, RateLimit-Policy",
};

export class CorsPolicy {
  /** "VERB /path" of REST routes and "/pkg.Service/Method" of RPCs that only a credential may call. */
  private readonly guarded = new Set<string>();

  constructor(routes: { verb: string; path: string; method: DescMethod }[], methods: DescMethod[]) {
    const ruled = (m: DescMethod) => accessOf(m) !== Access.PUBLIC_UNSPECIFIED;
    for (const r of routes) if (ruled(r.method)) this.guarded.add(`${r.verb} ${r.path}`);
    for (const m of methods) if (ruled(m)) this.guarded.add(`/${m.parent.typeName}/${m.name}`);
  }

  private isGuarded(verb: string, path: string): boolean {
    return this.guarded.has(path) || this.guarded.has(`${verb} ${path}`);
  }

  /** Sets the CORS headers the request may have; true when it was a preflight and is answered. */
  apply(req: NodeRequest, res: NodeResponse, path: string): boolean {
    const preflight = req.method === "OPTIONS";
    // A preflight asks for the method it means to send; plain OPTIONS is answered as for GET.
    const verb = preflight ? String(req.headers["access-control-request-method"] ?? "GET").toUpperCase() : req.method ?? "GET";
    const allowed = !this.isGuarded(verb, path);
    if (allowed) for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
    res.setHeader("Vary", "Origin");
    if (!preflight) return false;
    // Without Allow-Origin the browser refuses to send the real request.
    res.writeHead(204);
    res.end();
    return true;
  }
}
