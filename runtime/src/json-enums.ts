// Connect's JSON decoding ignores unknown fields, and with them enum names it
// does not know: `"format": "uint8"` (the REST spelling) leaves the field
// unset, and the rules then report it as missing. This reads the same JSON
// the decoder reads and names the value that is wrong and the ones that are
// accepted (the Connect protocol spec: JSON is the proto3 JSON mapping, where
// an enum is its value's name or number).
import { createContextKey, type ContextValues } from "@connectrpc/connect";
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { fieldRules } from "./rules.js";
import { findField } from "./rest-json.js";
import { invalidArgument } from "./errors.js";
import type { ConnectError } from "@connectrpc/connect";

/** What the JSON of a request got wrong, found while its body passed through; the handler wrapper throws it. */
export interface JsonIssue {
  error?: ConnectError;
}

export const jsonIssueKey = createContextKey<JsonIssue | undefined>(undefined, { description: "unknown enum names in a Connect JSON request" });

/** Throws the issue the request's JSON had, if any. */
export function throwJsonIssue(values: ContextValues): void {
  const error = values.get(jsonIssueKey)?.error;
  if (error) throw error;
}

function enumValueNames(field: DescField, e: DescEnum): string {
  // A required enum does not accept its zero value.
  const required = fieldRules(field)?.required ?? false;
  return e.values.filter((v) => !(required && v.number === 0)).map((v) => v.name).join(", ");
}

function checkEnum(field: DescField, e: DescEnum, value: unknown, name: string): ConnectError | undefined {
  if (typeof value !== "string" || e.values.some((v) => v.name === value)) return undefined;
  return invalidArgument(`${name}: unknown value ${JSON.stringify(value)} (expected one of ${enumValueNames(field, e)})`);
}

// The well-known types have JSON forms of their own, not their fields.
const ownJson = (m: DescMessage) => m.typeName.startsWith("google.protobuf.");

/** The first enum name in `json` that `schema` does not know, as INVALID_ARGUMENT naming the field. */
export function unknownEnumName(schema: DescMessage, json: unknown, path = ""): ConnectError | undefined {
  if (json === null || typeof json !== "object" || Array.isArray(json) || ownJson(schema)) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const field = findField(schema, key);
    if (!field || value === null) continue;
    const name = path + field.name;
    let error: ConnectError | undefined;
    switch (field.fieldKind) {
      case "enum":
        error = checkEnum(field, field.enum, value, name);
        break;
      case "message":
        error = unknownEnumName(field.message, value, `${name}.`);
        break;
      case "list":
        if (!Array.isArray(value)) break;
        for (let i = 0; i < value.length && !error; i++) {
          if (field.listKind === "enum") error = checkEnum(field, field.enum, value[i], `${name}[${i}]`);
          else if (field.listKind === "message") error = unknownEnumName(field.message, value[i], `${name}[${i}].`);
        }
        break;
      case "map":
        if (typeof value !== "object" || Array.isArray(value)) break;
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (field.mapKind === "enum") error = checkEnum(field, field.enum, v, `${name}[${k}]`);
          else if (field.mapKind === "message") error = unknownEnumName(field.message, v, `${name}[${k}].`);
          if (error) break;
        }
        break;
    }
    if (error) return error;
  }
  return undefined;
}

function scanText(schema: DescMessage, bytes: Uint8Array, issue: JsonIssue): void {
  if (issue.error) return;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return; // the decoder reports malformed JSON itself
  }
  issue.error = unknownEnumName(schema, json);
}

/**
 * Watches the JSON request messages of a Connect call as they are read:
 * unary bodies (application/json) whole, streaming ones (application/connect+json)
 * per uncompressed envelope, and a GET's `message` query parameter. Bodies
 * over `maxBytes` are left to the decoder, which refuses them.
 */
export function watchJsonEnums(
  schema: DescMessage,
  httpMethod: string,
  contentType: string,
  query: URLSearchParams,
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
): { issue: JsonIssue; body: AsyncIterable<Uint8Array> } {
  const issue: JsonIssue = {};
  const type = contentType.split(";", 1)[0].trim().toLowerCase();
  if (httpMethod === "GET") {
    // Connect GET: the message is in the query (the Connect protocol spec, "Unary-Get-Request").
    const q = query;
    const message = q.get("message");
    if (q.get("encoding") === "json" && message !== null && !q.get("compression")) {
      scanText(schema, q.get("base64") === "1" ? Buffer.from(message, "base64url") : Buffer.from(message, "utf8"), issue);
    }
    return { issue, body };
  }
  const enveloped = type === "application/connect+json";
  if (type !== "application/json" && !enveloped) return { issue, body };
  const chunks: Buffer[] = [];
  let size = 0; // bytes in chunks
  let total = 0;
  let need = 5; // enveloped: bytes the next envelope's header, then the whole envelope, take
  const seen = (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > maxBytes) return;
    chunks.push(Buffer.from(chunk));
    size += chunk.length;
    // Whole envelopes only, joined once each.
    while (enveloped && size >= need) {
      const all = Buffer.concat(chunks);
      chunks.length = 0;
      const length = all.readUInt32BE(1);
      if (need === 5 && all.length < 5 + length) {
        need = 5 + length;
        chunks.push(all);
        break;
      }
      // Flag 0x01: compressed; 0x02: end of stream. Only plain messages are JSON text.
      if (all[0] === 0) scanText(schema, all.subarray(5, 5 + length), issue);
      const rest = all.subarray(5 + length);
      if (rest.length > 0) chunks.push(rest);
      size = rest.length;
      need = 5;
    }
  };
  const done = () => {
    if (!enveloped && total <= maxBytes) scanText(schema, Buffer.concat(chunks), issue);
  };
  const it = body[Symbol.asyncIterator]();
  const wrapped: AsyncIterator<Uint8Array> = {
    async next() {
      const r = await it.next();
      if (r.done) done();
      else seen(r.value);
      return r;
    },
    throw: it.throw && ((e?: unknown) => it.throw!(e)),
    return: it.return && ((v?: unknown) => it.return!(v)),
  };
  return { issue, body: { [Symbol.asyncIterator]: () => wrapped } };
}
