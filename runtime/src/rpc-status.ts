// The status code an RPC answer carries, read from the answer as it leaves,
// wherever its protocol puts it (docs/reference/wire-protocols.md): gRPC's
// grpc-status trailer, gRPC-Web's trailer frame, Connect's
// end-of-stream message or unary error body (the Connect protocol spec,
// "Error Codes"). What the client receives is what the metrics count,
// refusals connect-es makes before any handler runs included.
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeOfStatus, grpcStatusName, knownCodeName } from "./request-outcome.js";

/** Flags of an enveloped message: a gRPC-Web trailer frame, a Connect end-of-stream message. */
const GRPC_WEB_TRAILER = 0x80;
const CONNECT_END_STREAM = 0x02;
/** Connect unary error bodies are small JSON; a body longer than this is not looked into. */
const ERROR_BODY_MAX = 64 * 1024;

/**
 * The same response; `report` gets the code name when its body has been
 * read to the end. A body the writer abandons (the client went away) reports nothing.
 */
export function watchRpcStatus(uRes: UniversalServerResponse, report: (code: string) => void): UniversalServerResponse {
  const type = uRes.header?.get("content-type") ?? "";
  let last: Uint8Array | undefined;
  let status: () => string;
  if (type.startsWith("application/grpc-web")) status = () => grpcWebStatus(last);
  else if (type.startsWith("application/grpc")) status = () => grpcStatusName(uRes.trailer?.get("grpc-status") ?? uRes.header?.get("grpc-status"));
  else if (type.startsWith("application/connect+")) status = () => connectEndStreamCode(last);
  else if (uRes.status === 200) status = () => "ok";
  else return watchConnectError(uRes, report);
  if (!uRes.body) {
    report(status());
    return uRes;
  }
  return { ...uRes, body: mapBody(uRes.body, (chunk) => (last = chunk), () => report(status())) };
}

/** A Connect unary error: the code is in the JSON body; anything else is named by its HTTP status. */
function watchConnectError(uRes: UniversalServerResponse, report: (code: string) => void): UniversalServerResponse {
  const fallback = codeOfStatus(uRes.status);
  if (!uRes.body) {
    report(fallback);
    return uRes;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const see = (chunk: Uint8Array) => {
    size += chunk.length;
    if (size <= ERROR_BODY_MAX) chunks.push(chunk);
    return chunk;
  };
  return { ...uRes, body: mapBody(uRes.body, see, () => report(size <= ERROR_BODY_MAX ? jsonCode(Buffer.concat(chunks), fallback) : fallback)) };
}

/** Each frame the server writes is one chunk (connect-es joins each envelope); the trailer frame is the last. */
function grpcWebStatus(last: Uint8Array | undefined): string {
  if (!last || last.length < 5 || (last[0] & GRPC_WEB_TRAILER) === 0) return "unknown";
  const status = /(?:^|\r\n)grpc-status: *(\d+)/i.exec(Buffer.from(last.subarray(5)).toString("latin1"));
  return grpcStatusName(status?.[1]);
}

function connectEndStreamCode(last: Uint8Array | undefined): string {
  if (!last || last.length < 5 || (last[0] & CONNECT_END_STREAM) === 0) return "unknown";
  const end = parse(last.subarray(5)) as { error?: { code?: string } } | undefined;
  if (!end) return "unknown";
  return end.error ? knownCodeName(end.error.code) : "ok";
}

function jsonCode(body: Uint8Array, fallback: string): string {
  const error = parse(body) as { code?: string } | undefined;
  return error?.code ? knownCodeName(error.code) : fallback;
}

function parse(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The same iterable with each value mapped, and `done` called once it ends;
 * throw and return reach the original (connect-node reports write errors
 * through them).
 */
export function mapBody(body: AsyncIterable<Uint8Array>, map: (chunk: Uint8Array, index: number) => Uint8Array, done?: () => void): AsyncIterable<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let index = 0;
  let ended = false;
  const wrapped: AsyncIterator<Uint8Array> = {
    async next() {
      const r = await it.next();
      if (r.done) {
        if (!ended) done?.();
        ended = true;
        return r;
      }
      return { done: false, value: map(r.value, index++) };
    },
    throw: it.throw && ((e?: unknown) => it.throw!(e)),
    return: it.return && ((v?: unknown) => it.return!(v)),
  };
  return { [Symbol.asyncIterator]: () => wrapped };
}
