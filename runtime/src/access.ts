// The `(lokey.options.v1.access)` rule of each method, enforced for every
// protocol before validation or the handler: who may drain entropy, seed
// Fortuna or change the gateway's configuration (docs/security.md).
import { createHash, timingSafeEqual } from "node:crypto";
import { getOption, hasOption, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Access, access as accessExt } from "../../gen/lokey/options/v1/options_pb.js";
import { peerOf, type Peer } from "./peer.js";

export { Access };

export interface AccessPolicy {
  /** The port verifies client certificates against a CA (TLS_CLIENT_CA_FILE). */
  clientCa: boolean;
  /** Certificate identities (subject CN) allowed to call ACCESS_SERVICE methods; empty: any the CA signed. */
  allowedClients: string[];
  /** The operator's bearer token for ACCESS_ADMIN methods; unset: loopback callers only. */
  adminToken?: Uint8Array;
}

const accessCache = new WeakMap<DescMethod, Access>();

export function accessOf(method: DescMethod): Access {
  let a = accessCache.get(method);
  if (a === undefined) {
    a = hasOption(method, accessExt) ? getOption(method, accessExt) : Access.PUBLIC_UNSPECIFIED;
    accessCache.set(method, a);
  }
  return a;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();

/** Constant-time: both sides are hashed first, so neither length nor content leaks through timing. */
export function tokenMatches(given: string, token: Uint8Array): boolean {
  return timingSafeEqual(sha256(Buffer.from(given, "utf8")), sha256(token));
}

function bearerOf(authorization: string | null): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "");
  return m?.[1];
}

/**
 * Which LoKey service `peer` is under the ACCESS_SERVICE rule of a port with
 * `policy`: "cert:<CN>" for an admitted client certificate, "loopback" on a
 * port without a client CA; undefined when the rule does not admit it. The
 * runtime records it on every call (Peer.service), so services that tell
 * callers apart (Fortuna's accumulator sources) apply this rule, not a copy.
 */
export function serviceIdentityOf(peer: Peer, policy: AccessPolicy): string | undefined {
  if (!policy.clientCa) return peer.loopback ? "loopback" : undefined;
  if (peer.certificate !== "verified") return undefined;
  const cn = peer.identity ?? "";
  return policy.allowedClients.length === 0 || policy.allowedClients.includes(cn) ? `cert:${cn}` : undefined;
}

function authorizeService(name: string, peer: Peer, policy: AccessPolicy): void {
  if (serviceIdentityOf(peer, policy) !== undefined) return;
  // Refused: say why, the most basic missing piece first.
  if (!policy.clientCa) {
    throw new ConnectError(`${name} is only open to loopback callers on a port without TLS_CLIENT_CA_FILE`, Code.PermissionDenied);
  }
  if (peer.certificate === "none") {
    throw new ConnectError(`${name} requires a client certificate (mutual TLS)`, Code.Unauthenticated);
  }
  if (peer.certificate === "rejected") {
    throw new ConnectError(`${name}: client certificate not accepted (${peer.certificateError})`, Code.PermissionDenied);
  }
  throw new ConnectError(`${name}: client ${JSON.stringify(peer.identity ?? "")} is not in TLS_ALLOWED_CLIENTS`, Code.PermissionDenied);
}

const BEARER_CHALLENGE = { "WWW-Authenticate": 'Bearer realm="lokey"' };

function authorizeAdmin(name: string, peer: Peer, authorization: string | null, policy: AccessPolicy): void {
  if (!policy.adminToken) {
    if (peer.loopback) return;
    throw new ConnectError(`${name} needs ADMIN_TOKEN to be configured, or a call from this machine`, Code.PermissionDenied);
  }
  const given = bearerOf(authorization);
  // RFC 9110 §11.6.1: a 401 names the scheme that would have worked.
  if (given === undefined) throw new ConnectError(`${name} requires Authorization: Bearer <admin token>`, Code.Unauthenticated, BEARER_CHALLENGE);
  if (!tokenMatches(given, policy.adminToken)) throw new ConnectError(`${name}: the admin token is wrong`, Code.PermissionDenied);
}

/**
 * Browsers send Origin with every cross-origin request, including the "simple"
 * POSTs that skip the CORS preflight; a page elsewhere must not reach a ruled
 * method through a visitor's browser (which may be on this very machine).
 */
function refuseCrossOrigin(name: string, headers: Headers, host: string): void {
  const origin = headers.get("origin");
  if (origin === null) return;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = "";
  }
  if (originHost !== "" && originHost === host) return;
  throw new ConnectError(`${name} is not callable from a web page of another origin (${origin})`, Code.PermissionDenied);
}

/** Throws UNAUTHENTICATED or PERMISSION_DENIED unless the call's peer may call `method`. */
export function authorize(method: DescMethod, ctx: HandlerContext, policy: AccessPolicy): void {
  const access = accessOf(method);
  if (access === Access.PUBLIC_UNSPECIFIED) return;
  refuseCrossOrigin(method.name, ctx.requestHeader, new URL(ctx.url).host);
  const peer = peerOf(ctx);
  if (access === Access.SERVICE) authorizeService(method.name, peer, policy);
  else authorizeAdmin(method.name, peer, ctx.requestHeader.get("authorization"), policy);
}
