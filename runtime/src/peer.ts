// Who is calling: the client's address (through trusted reverse proxies),
// whether the call comes from this machine, and what the connection's TLS
// client certificate proves. Computed once per request by the server and
// handed to handlers as a context value, for access rules and quotas alike.
import { BlockList, isIP } from "node:net";
import type { TLSSocket } from "node:tls";
import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { NodeRequest } from "./rest-request.js";

export interface Peer {
  /** The client's IP address: the socket's, or from X-Forwarded-For when the socket is a trusted proxy. */
  address: string;
  /** The call originates on this machine: a loopback socket that forwards for nobody. */
  loopback: boolean;
  /** What the connection's client certificate proved: none sent, verified by the port's CA, or not verified. */
  certificate: "none" | "verified" | "rejected";
  /** The verified certificate's subject CN. */
  identity?: string;
  /** Why a presented certificate was not accepted. */
  certificateError?: string;
  /** The LoKey service this caller is under the port's ACCESS_SERVICE rule (runtime/src/access.ts); undefined: none. */
  service?: string;
}

const UNKNOWN_PEER: Peer = { address: "", loopback: false, certificate: "none" };

export const peerKey = createContextKey<Peer>(UNKNOWN_PEER, { description: "the calling peer" });

/** The peer of a handler's call (set by the runtime for gRPC, Connect and REST). */
export function peerOf(ctx: HandlerContext): Peer {
  return ctx.values.get(peerKey);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** Strips the IPv4-mapped IPv6 prefix Node reports on dual-stack sockets. */
export const plainAddress = (a: string) => (a.startsWith("::ffff:") && isIP(a.slice(7)) === 4 ? a.slice(7) : a);

function inList(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? "ipv4" : "ipv6");
}

export const isLoopbackAddress = (address: string): boolean => inList(LOOPBACK, plainAddress(address));

/** A listening host that only this machine can reach. */
export const isLoopbackHost = (host: string): boolean => host === "localhost" || isLoopbackAddress(host);

// Proxies add these; a loopback socket that sends one is relaying someone else.
const FORWARDING_HEADERS = ["x-forwarded-for", "forwarded", "x-real-ip"];

/** The TLS socket under a request, whichever HTTP version carried it. */
function tlsSocketOf(req: NodeRequest): TLSSocket | undefined {
  // HTTP/2 requests hang off their session; its socket proxy forwards reads of
  // TLS state to the real socket.
  const stream = (req as { stream?: { session?: { socket?: unknown } } }).stream;
  const socket = (stream?.session?.socket ?? req.socket) as Partial<TLSSocket> | undefined;
  return socket?.encrypted ? (socket as TLSSocket) : undefined;
}

function certificateOf(req: NodeRequest): Pick<Peer, "certificate" | "identity" | "certificateError"> {
  const tls = tlsSocketOf(req);
  if (!tls) return { certificate: "none" };
  const cert = tls.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { certificate: "none" };
  if (!tls.authorized) return { certificate: "rejected", certificateError: String(tls.authorizationError ?? "not verified") };
  const cn = cert.subject?.CN;
  return { certificate: "verified", identity: Array.isArray(cn) ? cn[0] : cn };
}

/**
 * X-Forwarded-For from the right: the first hop that is not a trusted proxy is
 * the client. `local`: the client and every proxy after it were reached over
 * loopback. Each hop is the address the next proxy saw, so a loopback entry
 * means that proxy's machine: this one only if every proxy is on it.
 */
function forwardedClient(header: string | string[] | undefined, trusted: BlockList): { address: string; local: boolean } | undefined {
  const hops = (Array.isArray(header) ? header.join(",") : header ?? "")
    .split(",")
    .map((s) => plainAddress(s.trim()))
    .filter(Boolean);
  let local = true;
  for (let i = hops.length - 1; i >= 0; i--) {
    if (isIP(hops[i]) === 0) return undefined; // garbage: fall back to the socket
    local &&= isLoopbackAddress(hops[i]);
    if (!inList(trusted, hops[i])) return { address: hops[i], local };
  }
  return hops.length > 0 ? { address: hops[0], local } : undefined;
}

/** The request names a client other than its connection's (a proxy's headers). */
export const isForwarded = (req: NodeRequest) => FORWARDING_HEADERS.some((h) => req.headers[h] !== undefined);

/** What carries the request: the HTTP/1.1 socket, or the HTTP/2 session. */
export const connectionOf = (req: NodeRequest): object => (req as { stream?: { session?: object } }).stream?.session ?? req.socket;

export function peerFromRequest(req: NodeRequest, trustedProxies?: BlockList): Peer {
  const socketAddress = plainAddress(req.socket?.remoteAddress ?? "");
  const forwards = isForwarded(req);
  let address = socketAddress;
  let loopback = isLoopbackAddress(socketAddress) && !forwards;
  if (trustedProxies && inList(trustedProxies, socketAddress)) {
    const client = forwardedClient(req.headers["x-forwarded-for"], trustedProxies);
    if (client) {
      address = client.address;
      // A proxy elsewhere reporting 127.0.0.1 speaks of its own machine, not ours.
      loopback = isLoopbackAddress(socketAddress) && client.local;
    }
  }
  return { address, loopback, ...certificateOf(req) };
}

export function peerContextValues(peer: Peer): ContextValues {
  return createContextValues().set(peerKey, peer);
}
