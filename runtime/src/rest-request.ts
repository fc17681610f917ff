// Reading a REST request into the JSON a request message is parsed from:
// body limits, lenient Content-Type, typed query parameters, required fields.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { ScalarType, type DescMessage } from "@bufbuild/protobuf";
import { invalidArgument } from "./errors.js";
import { findField, parseJsonExact, RestBodyError } from "./rest-json.js";
import { fieldRules } from "./rules.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** A body over the request size limit (answered like any unreadable body). */
export class PayloadTooLarge extends Error {}

export function headersOf(req: NodeRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (!k.startsWith(":") && v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

export async function readBody(req: NodeRequest, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) throw new PayloadTooLarge(`the body is larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new PayloadTooLarge(`the body is larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
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
  const json: Record<string, unknown> = {};
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

export function requirePresent(schema: DescMessage, json: Record<string, unknown>): void {
  for (const f of schema.fields) {
    if (!fieldRules(f)?.required) continue;
    const v = json[f.name] ?? json[f.jsonName];
    if (v === undefined || v === null) throw invalidArgument(`${f.name}: is required`);
  }
}
