// Connect, gRPC and gRPC-Web over Node requests: connect-node's adapter
// (router, request and response conversion), with two things a public port
// needs that it does not do. A request it cannot decode is the client's
// mistake (INVALID_ARGUMENT), where connect-es reports INTERNAL; and failures
// are logged through the service's logger, not the console.
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { binaryResponseToText, isGrpcWebText, textRequestToBinary } from "./grpc-web-text.js";
import { jsonIssueKey, watchJsonEnums } from "./json-enums.js";
import type { Logger } from "./log.js";
import { clientGone, codeName, noteCode, noteRoute, UNMATCHED, type Protocol } from "./request-outcome.js";
import type { NodeRequest, NodeResponse } from "./rest-request.js";
import { mapBody, watchRpcStatus } from "./rpc-status.js";

export interface RpcAdapterOptions extends Omit<ConnectRouterOptions, "interceptors"> {
  routes(router: ConnectRouter): void;
  contextValues(req: NodeRequest): ContextValues;
  log: Logger;
}

/**
 * Handles the request when its path is an RPC's, or when it is a gRPC or
 * gRPC-Web call of a method this server does not have; false lets the caller
 * answer (404).
 */
export type RpcHandler = (req: NodeRequest, res: NodeResponse, url: URL) => boolean;

// connect-es reports these request decoding failures as INTERNAL: a protobuf
// body that does not decode, and a message flagged compressed without a
// compression named (runtime/test/client-mistakes.test.ts sends both). JSON
// decoding is already INVALID_ARGUMENT. The gRPC status codes document
// INVALID_ARGUMENT for "arguments that are problematic regardless of the
// state of the system".
const DECODE_FAILURES = ["parse binary: ", "received compressed envelope, but do not know how to decompress"];
const isDecodeFailure = (code: number | string | null | undefined, message: string | null | undefined) =>
  (code === Code.Internal || code === "13" || code === "internal") && !!message && DECODE_FAILURES.some((f) => message.startsWith(f));

// Streams decode their request inside the interceptor chain; unary calls
// before it, so their answers are corrected below instead.
const decodeFailures: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    if (err instanceof ConnectError && isDecodeFailure(err.code, err.rawMessage)) throw new ConnectError(err.rawMessage, Code.InvalidArgument);
    throw err;
  }
};

export function createRpcAdapter(opts: RpcAdapterOptions): RpcHandler {
  const { routes, contextValues, log, ...routerOptions } = opts;
  const readMaxBytes = routerOptions.readMaxBytes ?? 0xffffffff;
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...routerOptions,
    interceptors: [decodeFailures],
  });
  routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res, url) => {
    const path = url.pathname;
    const handler = paths.get(path);
    if (!handler) return answerUnimplemented(req, res, path);
    noteRoute(res, protocolOf(req), handler.requestPath);
    const values = contextValues(req);
    const uReq = universalRequestFromNodeRequest(req as never, res as never, undefined, values);
    const json = watchJsonEnums(handler.method.input, req.method ?? "", String(req.headers["content-type"] ?? ""), url.searchParams, uReq.body as AsyncIterable<Uint8Array>, readMaxBytes);
    values.set(jsonIssueKey, json.issue);
    const text = isGrpcWebText(uReq.header.get("content-type"));
    const request = { ...uReq, body: json.body };
    handler(text ? textRequestToBinary(request) : request)
      .then((uRes) => correctDecodeFailure(uRes))
      .then((uRes) => watchRpcStatus(withAllow(uRes, handler.method), (code) => noteCode(res, code)))
      .then((uRes) => (text ? binaryResponseToText(uRes) : uRes))
      .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
      .catch((reason) => {
        // The client went away mid-answer: the request tracker's one line, nothing more.
        const code = ConnectError.from(reason).code;
        if (code === Code.Aborted || code === Code.Canceled || clientGone(res)) return;
        log.warn("RPC answer failed", { rpc: `${handler.service.typeName}/${handler.method.name}`, error: reason });
      });
    return true;
  };
}

// gRPC and gRPC-Web clients read the outcome of a call from grpc-status, not
// from the HTTP status: gRPC's PROTOCOL-HTTP2.md has a missing method answered
// with HTTP 200 and status UNIMPLEMENTED (12), and PROTOCOL-WEB.md keeps that
// response shape. Both allow a Trailers-Only response: the status in the
// only HEADERS, which ends the stream; over HTTP/1.1 that is the head of an
// empty 200. Connect's clients take an HTTP 404 as UNIMPLEMENTED (the
// Connect protocol's error code table), so Connect and REST keep the 404
// (docs/reference/wire-protocols.md).
const GRPC_CONTENT_TYPE = /^application\/grpc(?:-web(?:-text)?)?(?:[+;]|$)/i;

/** Which RPC protocol a request speaks, by its content type (connect-es decides the same way). */
function protocolOf(req: NodeRequest): Protocol {
  const type = req.headers["content-type"] ?? "";
  return type.startsWith("application/grpc-web") ? "grpc_web" : type.startsWith("application/grpc") ? "grpc" : "connect";
}

function answerUnimplemented(req: NodeRequest, res: NodeResponse, path: string): boolean {
  const type = String(req.headers["content-type"] ?? "");
  if (!GRPC_CONTENT_TYPE.test(type)) return false;
  noteRoute(res, protocolOf(req), UNMATCHED);
  noteCode(res, codeName(Code.Unimplemented));
  const headers = {
    "content-type": type.split(";", 1)[0].trim().toLowerCase(),
    "grpc-status": String(Code.Unimplemented),
    "grpc-message": percentEncode(`unknown method ${path}`),
  };
  // The request may have a body nobody reads: drain it so the connection stays usable.
  req.resume();
  const stream = (res as { stream?: { respond(h: Record<string, string | number>, o: { endStream: boolean }): void } }).stream;
  if (stream && req.httpVersionMajor === 2) {
    // HTTP/2: one HEADERS frame with END_STREAM (Node's compatibility response would add an empty DATA frame).
    // It bypasses the response object, so the headers already set on it (CORS) are copied.
    stream.respond({ ...(res.getHeaders() as Record<string, string>), ":status": 200, ...headers }, { endStream: true });
  } else {
    res.writeHead(200, { ...headers, "content-length": "0" });
    res.end();
  }
  return true;
}

// grpc-message is percent-encoded UTF-8, everything outside printable ASCII
// (and "%" itself) as %XX (docs/reference/wire-protocols.md).
function percentEncode(text: string): string {
  return [...Buffer.from(text, "utf8")].map((b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : "%" + b.toString(16).toUpperCase().padStart(2, "0"))).join("");
}

// The Connect protocol spec lets a client send a unary call as GET when the
// method is marked free of side effects (idempotency_level = NO_SIDE_EFFECTS);
// connect-node answers GET on any other method, and any other verb, with 405.
// RFC 9110 §15.5.6: a 405 must list the methods the resource takes in Allow.
function withAllow(uRes: UniversalServerResponse, method: DescMethod): UniversalServerResponse {
  if (uRes.status !== 405) return uRes;
  const header = uRes.header ?? new Headers();
  header.set("allow", method.methodKind === "unary" && method.idempotency === Idempotency.NO_SIDE_EFFECTS ? "GET, POST" : "POST");
  return { ...uRes, header };
}

/** The unary answers of each protocol to a request that did not decode, as INVALID_ARGUMENT. */
async function correctDecodeFailure(uRes: UniversalServerResponse): Promise<UniversalServerResponse> {
  const type = uRes.header?.get("content-type") ?? "";
  // Connect unary: an error is a JSON body with an HTTP status.
  if (uRes.status === 500 && type.startsWith("application/json") && uRes.body) {
    const body = await collect(uRes.body);
    let error: { code?: string; message?: string } | undefined;
    try {
      error = JSON.parse(Buffer.from(body).toString("utf8")) as typeof error;
    } catch {
      // not the error shape: pass it on as it was
    }
    if (!error || !isDecodeFailure(error.code, error.message)) return { ...uRes, body: once(body) };
    const fixed = Buffer.from(JSON.stringify({ ...error, code: "invalid_argument" }));
    uRes.header!.set("content-length", String(fixed.length));
    return { ...uRes, status: 400, body: once(fixed) };
  }
  // gRPC: the status travels in HTTP trailers, already set when a unary
  // request did not decode (its answer waits for the first body bytes).
  const trailer = uRes.trailer;
  if (trailer && isDecodeFailure(trailer.get("grpc-status"), decode(trailer.get("grpc-message")))) {
    trailer.set("grpc-status", String(Code.InvalidArgument));
  }
  // gRPC-Web: the status is a frame of the body (flag 0x80, then header lines), then the first one.
  if (type.startsWith("application/grpc-web") && uRes.body) return { ...uRes, body: mapFirst(uRes.body, fixGrpcWebTrailer) };
  return uRes;
}

function fixGrpcWebTrailer(chunk: Uint8Array): Uint8Array {
  if (chunk.length < 5 || chunk[0] !== 0x80 || chunk.length !== 5 + Buffer.from(chunk).readUInt32BE(1)) return chunk;
  const text = Buffer.from(chunk.subarray(5)).toString("utf8");
  const status = /(?:^|\r\n)grpc-status: *13\r\n/.exec(text);
  const message = /(?:^|\r\n)grpc-message: *([^\r]*)\r\n/.exec(text);
  if (!status || !isDecodeFailure(13, decode(message?.[1] ?? null))) return chunk;
  const fixed = Buffer.from(text.replace(/grpc-status: *13\r\n/, `grpc-status: ${Code.InvalidArgument}\r\n`));
  const head = Buffer.alloc(5);
  head[0] = 0x80;
  head.writeUInt32BE(fixed.length, 1);
  return Buffer.concat([head, fixed]);
}

function decode(text: string | null): string | null {
  if (text === null) return null;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** The same iterable with its first value mapped. */
const mapFirst = (body: AsyncIterable<Uint8Array>, map: (chunk: Uint8Array) => Uint8Array) => mapBody(body, (chunk, i) => (i === 0 ? map(chunk) : chunk));
