// Reading a REST request into the JSON a request message is parsed from:
// body limits, content codings, lenient Content-Type, typed query
// parameters. Whether the values obey the field rules is checked once, on
// the message, for every protocol (runtime/src/rules.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from "node:zlib";
import { ScalarType, type DescMessage } from "@bufbuild/protobuf";
import { invalidArgument } from "./errors.js";
import { findField, jsonObject, parseJsonExact, RestBodyError } from "./rest-json.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** A body over the request size limit (answered like any unreadable body). */
export class PayloadTooLarge extends Error {}

type Decoder = (body: Buffer, opts: ZlibOptions) => Promise<Buffer>;

// RFC 9110 §8.4.1: gzip (x-gzip is its old name) and deflate (zlib format),
// and br (RFC 7932), as Connect accepts them on its own routes.
const DECODERS: Record<string, Decoder> = {
  gzip: promisify(gunzip),
  "x-gzip": promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress) as Decoder,
};

/** A Content-Encoding this server cannot decode: 415 (RFC 9110 §15.5.16). */
export class UnsupportedEncoding extends Error {
  readonly supported = "gzip, deflate, br";
}

const NONE: string[] = [];

/** The request's content codings in the order they were applied; identity is none. */
function contentCodings(req: NodeRequest): string[] {
  const header = req.headers["content-encoding"];
  if (header === undefined) return NONE;
  const codings = (Array.isArray(header) ? header.join(",") : header ?? "")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  for (const c of codings) if (!DECODERS[c]) throw new UnsupportedEncoding(`Content-Encoding ${JSON.stringify(c)} is not supported (supported: gzip, deflate, br)`);
  return codings;
}

/**
 * The request body, decoded when it has a Content-Encoding. `max` bounds what
 * is read and what each decoding makes of it, so a small compressed body
 * cannot inflate into an unbounded one.
 */
export async function readBody(req: NodeRequest, max: number): Promise<Buffer> {
  const codings = contentCodings(req);
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) throw new PayloadTooLarge(`the body is larger than ${max} bytes`);
  let body = await collect(req, max);
  for (const coding of [...codings].reverse()) {
    try {
      body = await DECODERS[coding](body, { maxOutputLength: max });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw new PayloadTooLarge(`the body is larger than ${max} bytes once decoded`);
      throw new RestBodyError(`the body is not valid ${coding}`);
    }
  }
  return body;
}

// Events rather than the stream's async iterator: a small body is one chunk,
// and the iterator costs several promises and listeners per request. The
// listeners stay: once settled, later events change nothing.
function collect(req: NodeRequest, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      if (size - chunk.length > max) return;
      reject(new PayloadTooLarge(`the body is larger than ${max} bytes`));
      // Nobody reads the rest: stop it here instead of buffering it.
      req.destroy();
    });
    let ended = false;
    req.on("end", () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on("error", reject);
    req.on("close", () => ended || reject(new Error("the request closed before its body ended")));
  });
}

// The documented routes read their body as JSON whatever the Content-Type
// says: existing scripts post JSON with curl's default form content type.
export function parseBody(body: Buffer): Record<string, unknown> {
  const text = body.toString("utf8").trim();
  if (text === "") throw new RestBodyError("empty body: a JSON object is required");
  let value: unknown;
  try {
    value = parseJsonExact(text);
  } catch {
    throw new RestBodyError("malformed JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new RestBodyError("the body must be a JSON object");
  return value as Record<string, unknown>;
}

export function queryToJson(schema: DescMessage, params: URLSearchParams): Record<string, unknown> {
  const json = jsonObject();
  for (const key of new Set(params.keys())) {
    const field = findField(schema, key);
    if (!field) throw invalidArgument(`unknown query parameter ${JSON.stringify(key)}`);
    const values = params.getAll(key);
    if (field.fieldKind === "list") json[key] = values.map((v) => queryScalar(field.name, field.scalar, v));
    else if (values.length > 1) throw invalidArgument(`${field.name}: given ${values.length} times`);
    else json[key] = queryScalar(field.name, field.fieldKind === "scalar" ? field.scalar : undefined, values[0]);
  }
  return json;
}

function queryScalar(name: string, scalar: ScalarType | undefined, v: string): unknown {
  switch (scalar) {
    case undefined:
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return v;
    case ScalarType.BOOL:
      if (v !== "true" && v !== "false") throw invalidArgument(`${name}: must be true or false, got ${JSON.stringify(v)}`);
      return v === "true";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (v.trim() === "" || !Number.isFinite(Number(v))) throw invalidArgument(`${name}: must be a number, got ${JSON.stringify(v)}`);
      return Number(v);
    default:
      if (!/^-?\d+$/.test(v)) throw invalidArgument(`${name}: must be an integer, got ${JSON.stringify(v)}`);
      return v;
  }
}
