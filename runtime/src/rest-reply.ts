// What a REST route answers: the documented response (a service's render
// hook, or the message's REST JSON) and the documented error shape
// `{"error": "..."}` with the status errors.ts gives the error's code.
import type { ServerResponse } from "node:http";
import { Code } from "@connectrpc/connect";
import { asConnectError, httpStatusOf } from "./errors.js";
import { clientGone, codeName, noteCode } from "./request-outcome.js";
import type { Logger } from "./log.js";
import { RestBodyError, type BytesEncoding } from "./rest-json.js";
import { PayloadTooLarge, UnsupportedEncoding, type NodeResponse } from "./rest-request.js";

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

export interface RestOptions {
  /** How bytes fields are spelled in REST JSON (default base64). */
  bytes?: BytesEncoding;
  /** Per method (local name): render the response the documented way. Streams: called per message. */
  render?: Record<string, (res: any) => RestReply>;
  /** Per method (local name): adapt the documented request JSON before it is parsed as the request message. */
  parse?: Record<string, (json: Record<string, unknown>) => Record<string, unknown>>;
}

/** A render hook for health answers: the default JSON body, and 503 unless healthy, for probes that read the status code. */
export function healthReply(res: { status: string }): RestReply {
  return { status: res.status === "healthy" ? 200 : 503 };
}

const JSON_TYPE = "application/json; charset=utf-8";

export function send(res: NodeResponse, reply: RestReply): void {
  const headers: Record<string, string> = reply.headers ? { ...reply.headers } : {};
  let body: string | Uint8Array;
  if (reply.body instanceof Uint8Array) {
    body = reply.body;
    headers["Content-Type"] ??= "application/octet-stream";
  } else {
    body = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
    headers["Content-Type"] ??= JSON_TYPE;
  }
  headers["Content-Length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.length);
  res.writeHead(reply.status ?? 200, headers);
  res.end(body);
}

export function sendJson(res: NodeResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, { status, headers, body: value });
}

/** Why a request body was refused; the documented JSON body only says "Invalid request body". */
export const ERROR_DETAIL_HEADER = "X-Error-Detail";

/** Header values are Latin-1 without control characters; anything else becomes "?". */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);

/** Answers a failed REST call: the documented error body, or a cut-off stream when the answer had begun. */
export function sendError(res: NodeResponse, err: unknown, log: Logger): void {
  // A client that went away (its body cut off, its stream reset) hears
  // nothing more; the request tracker logs it, once.
  if (clientGone(res)) return;
  if (res.headersSent) {
    noteCode(res, codeName(asConnectError(err).code));
    (res as ServerResponse).destroy();
    return;
  }
  if (err instanceof UnsupportedEncoding) {
    // RFC 9110 §15.5.16; Accept-Encoding in the answer names what is (§12.5.3).
    sendJson(res, 415, { error: err.message }, { "Accept-Encoding": err.supported });
    return;
  }
  // An unreadable body (an oversized one too: the original's JSON decoder
  // fails on the cut-off body) answers the documented body exactly; what
  // was wrong goes in a header, beside the shape scripts compare against.
  if (err instanceof RestBodyError || err instanceof PayloadTooLarge) {
    const detail = err instanceof RestBodyError ? err.detail : err.message;
    sendJson(res, 400, { error: "Invalid request body" }, { [ERROR_DETAIL_HEADER]: headerSafe(detail) });
    return;
  }
  const ce = asConnectError(err);
  noteCode(res, codeName(ce.code));
  if (ce.code === Code.Internal || ce.code === Code.Unknown) log.error("REST handler failed", { error: ce.cause ?? ce });
  const headers: Record<string, string> = {};
  // The error's metadata (e.g. Retry-After on RESOURCE_EXHAUSTED) is what
  // Connect and gRPC send as headers; REST sends it too.
  ce.metadata.forEach((value, name) => (headers[name] = value));
  sendJson(res, httpStatusOf(ce.code), { error: ce.rawMessage }, headers);
}
