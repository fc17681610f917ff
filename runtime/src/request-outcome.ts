// What became of one request, for the request metrics and the access log:
// the route it took and the status code it ended with. The server opens an
// outcome per response; the transcoder and the RPC adapter fill in what they
// know. docs/operations.md describes the labels.
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeFromString, codeToString } from "@connectrpc/connect/protocol-connect";
import type { NodeResponse } from "./rest-request.js";

/** How the request was made: gRPC, gRPC-Web, Connect, a REST route, or plain HTTP (static routes, unknown paths). */
export type Protocol = "grpc" | "grpc_web" | "connect" | "rest" | "http";

/** The route of a request no route or RPC took: unknown paths, malformed targets. */
export const UNMATCHED = "unmatched";

export interface Outcome {
  protocol: Protocol;
  /** A bounded set: an RPC's path, a REST route's verb and path template, a static route, or UNMATCHED. */
  route: string;
  /** The status code's name once known; unset: read from the HTTP status when the answer is complete. */
  code?: string;
}

// On the response itself: a WeakMap entry per request costs the garbage
// collector several times what the whole record does (bench/request-metrics.bench.ts).
const OUTCOME = Symbol("lokey.outcome");
type WithOutcome = NodeResponse & { [OUTCOME]?: Outcome };

export function openOutcome(res: NodeResponse): Outcome {
  const outcome: Outcome = { protocol: "http", route: UNMATCHED, code: undefined };
  (res as WithOutcome)[OUTCOME] = outcome;
  return outcome;
}

export function noteRoute(res: NodeResponse, protocol: Protocol, route: string): void {
  const o = (res as WithOutcome)[OUTCOME];
  if (o) {
    o.protocol = protocol;
    o.route = route;
  }
}

/** Records the status code the answer carries, as named by codeName() or "ok". */
export function noteCode(res: NodeResponse, code: string): void {
  const o = (res as WithOutcome)[OUTCOME];
  if (o) o.code = code;
}

/** The Connect protocol's name of a code ("invalid_argument"), the name gRPC's status codes have in snake case. */
export const codeName = (code: Code): string => codeToString(code);

/** A code name as received, or "unknown" for anything that is not one (labels stay a bounded set). */
export const knownCodeName = (name: string | undefined): string => (name === "ok" || (name !== undefined && codeFromString(name) !== undefined) ? name! : "unknown");

/** gRPC's numeric grpc-status (docs/reference/wire-protocols.md) as a code name. */
export function grpcStatusName(status: string | null | undefined): string {
  if (status === "0") return "ok";
  const n = Number(status);
  return status && Number.isInteger(n) && n > 0 && n <= 16 ? codeName(n as Code) : "unknown";
}

// Answers that never came from an RPC's code (static routes, unknown paths,
// refusals before any handler ran) are named by their HTTP status: the
// inverse of errors.ts's table where it is one-to-one, the closest code
// where it is not (405 and 415: a verb or media type the route does not
// implement).
const STATUS_CODES: Record<number, Code> = {
  400: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  405: Code.Unimplemented,
  408: Code.DeadlineExceeded,
  409: Code.Aborted,
  413: Code.ResourceExhausted,
  415: Code.Unimplemented,
  429: Code.ResourceExhausted,
  499: Code.Canceled,
  500: Code.Internal,
  501: Code.Unimplemented,
  503: Code.Unavailable,
  504: Code.DeadlineExceeded,
};

export function codeOfStatus(status: number): string {
  if (status < 400) return "ok";
  const code = STATUS_CODES[status];
  return code === undefined ? "unknown" : codeName(code);
}

/**
 * The client closed its connection or stream before the answer was
 * complete (ECONNRESET, RST_STREAM CANCEL, a premature close): nothing more
 * can reach it, and it is not the server's failure.
 */
export function clientGone(res: NodeResponse): boolean {
  if (res.writableFinished) return false;
  const stream = (res as Http2ServerResponse).stream as Http2ServerResponse["stream"] | undefined;
  if (stream) return stream.destroyed;
  const h1 = res as ServerResponse;
  return h1.destroyed || !!h1.socket?.destroyed;
}
