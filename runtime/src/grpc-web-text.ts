// gRPC-Web's text mode (gRPC's PROTOCOL-WEB.md, "application/grpc-web-text";
// docs/reference/wire-protocols.md): the
// same frames as binary gRPC-Web, base64-encoded in both directions, for
// clients that can only handle text bodies. connect-node serves binary
// gRPC-Web only, so a text request is decoded on the way in and its answer
// encoded on the way out. Base64 may arrive in separately padded chunks
// ("the client may send multiple base64 chunks"): each 4-character quantum
// decodes on its own, so the text is decoded quantum by quantum.
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";

const TEXT_TYPE = /^application\/grpc-web-text(?:\+proto)?\s*(?:;|$)/i;

export const isGrpcWebText = (contentType: string | null | undefined) => TEXT_TYPE.test(contentType ?? "");

/** Decodes base64 text in 4-character quanta; a padded quantum ends its segment. */
function decodeQuanta(text: string): Buffer {
  // Split after each run of "=" that something follows: segments each end in their own padding.
  return Buffer.concat(text.split(/(?<==)(?=[^=])/).map((segment) => Buffer.from(segment, "base64")));
}

async function* decodeBody(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let pending = "";
  for await (const chunk of body) {
    pending += Buffer.from(chunk).toString("latin1").replace(/\s+/g, "");
    const whole = pending.length - (pending.length % 4);
    if (whole === 0) continue;
    yield decodeQuanta(pending.slice(0, whole));
    pending = pending.slice(whole);
  }
  // A truncated quantum: decoded as far as it goes; a cut-off frame then fails to parse.
  if (pending.length > 0) yield decodeQuanta(pending);
}

async function* encodeBody(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  // Each chunk is encoded with its own padding; readers decode quantum by quantum.
  for await (const chunk of body) yield Buffer.from(Buffer.from(chunk).toString("base64"), "latin1");
}

/** The request as binary gRPC-Web. */
export function textRequestToBinary(uReq: UniversalServerRequest): UniversalServerRequest {
  const header = new Headers(uReq.header);
  header.set("content-type", "application/grpc-web+proto");
  header.delete("content-length");
  return { ...uReq, header, body: decodeBody(uReq.body as AsyncIterable<Uint8Array>) };
}

/** The binary gRPC-Web answer as text. */
export function binaryResponseToText(uRes: UniversalServerResponse): UniversalServerResponse {
  const header = new Headers(uRes.header);
  const type = header.get("content-type");
  if (type && /^application\/grpc-web(?:\+proto)?$/i.test(type)) header.set("content-type", "application/grpc-web-text+proto");
  header.delete("content-length");
  return { ...uRes, header, body: uRes.body ? encodeBody(uRes.body as AsyncIterable<Uint8Array>) : uRes.body };
}
