// The URL a request names, from its target and authority, parsed once per
// request for every protocol: the server hands this URL to the routes, the
// transcoder (path, query, the handler context's url) and the RPC adapter
// (path, a Connect GET's query). A target or Host that is not a URL is the
// client's mistake, answered 400 (RFC 9112 §3.2, §3.3); parsing it later,
// deep in a handler or in connect-node, would throw and turn it into a 500.
import type { NodeRequest } from "./rest-request.js";

// RFC 3986 §3.2: an authority is host[:port]; userinfo is not allowed in HTTP
// (RFC 9110 §4.2.4), and a path, query or fragment would make it another URL.
const AUTHORITY = /^[^\s/?#@\\]+$/;

/**
 * The request's URL, or undefined when its target or authority is not
 * valid. HTTP/2 names the authority in `:authority`; a request that only sends
 * Host (RFC 9113 §8.3.1) gets it as its authority too, where connect-node
 * looks for it.
 */
export function requestUrl(req: NodeRequest): URL | undefined {
  const h2 = "authority" in req;
  let authority = h2 ? (req as { authority?: string }).authority : req.headers.host;
  if (h2 && !authority && typeof req.headers.host === "string") {
    authority = req.headers.host;
    Object.defineProperty(req, "authority", { value: authority });
  }
  if (!authority || !AUTHORITY.test(authority)) return undefined;
  try {
    return new URL(req.url ?? "/", `http://${authority}`);
  } catch {
    return undefined;
  }
}
