// The JSON dialect of LoKey's REST routes, which predate the protos: snake_case
// names, enums by short lowercase name ("trng" for SOURCE_TRNG), 64-bit
// integers as exact JSON numbers (never strings, never rounded), every field
// written. Bytes are base64 by default or hex where a service documents hex.
import { fromJson, ScalarType, type DescEnum, type DescField, type DescMessage, type JsonValue, type Message } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { invalidArgument } from "./errors.js";
import { fieldRules } from "./rules.js";

export type BytesEncoding = "hex" | "base64";

/** A request body or query that is not the JSON the route expects. */
export class RestBodyError extends Error {
  constructor(readonly detail: string) {
    super(detail);
  }
}

export const enumShortName = (e: DescEnum, number: number): string => {
  const v = e.values.find((x) => x.number === number);
  if (!v) return String(number);
  return (e.sharedPrefix ? v.name.slice(e.sharedPrefix.length) : v.name).toLowerCase();
};

/** Accepted spellings of an enum value: "trng", "TRNG", "SOURCE_TRNG". */
function enumNumber(e: DescEnum, text: string): number | undefined {
  const t = text.toUpperCase();
  // protobuf-es gives the shared prefix in lower case ("format_").
  const prefix = (e.sharedPrefix ?? "").toUpperCase();
  return e.values.find((v) => v.name === t || v.name === prefix + t)?.number;
}

function enumChoices(e: DescEnum): string {
  return e.values.filter((v) => v.number !== 0).map((v) => enumShortName(e, v.number)).join(", ");
}

export function findField(schema: DescMessage, key: string): DescField | undefined {
  return schema.fields.find((f) => f.name === key || f.jsonName === key);
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function hexToBytes(text: string, name: string): Uint8Array {
  if (!HEX.test(text)) throw invalidArgument(`${name}: must be a hex string of whole bytes`);
  return Uint8Array.from(Buffer.from(text, "hex"));
}

/**
 * Rewrites REST spellings into protobuf JSON (short enum names, hex bytes) so
 * `fromJson` can parse the result strictly. Body values must also have their
 * field's JSON type: protobuf JSON would take "10" for an integer or 2 for an
 * enum, the documented API answers those with "Invalid request body". Query
 * values arrive as checked strings and skip that test.
 */
function adapt(schema: DescMessage, json: Record<string, unknown>, ctx: AdaptContext, path: string): Record<string, unknown> {
  const out = jsonObject();
  for (const [key, value] of Object.entries(json)) {
    const field = findField(schema, key);
    out[key] = field ? adaptValue(field, value, ctx, path + field.name) : value;
  }
  return out;
}

interface AdaptContext {
  bytes: BytesEncoding;
  strictTypes: boolean;
}

function adaptValue(field: DescField, value: unknown, ctx: AdaptContext, name: string): unknown {
  if (value === null) return value;
  const one = (v: unknown, itemName: string): unknown => {
    if (ctx.strictTypes) checkJsonType(field, v, itemName);
    if (field.enum && typeof v === "string") {
      const n = enumNumber(field.enum, v);
      if (n === undefined || n === 0) {
        throw invalidArgument(`${itemName}: unknown value ${JSON.stringify(v)} (expected one of ${enumChoices(field.enum)})`);
      }
      return n;
    }
    if (field.scalar === ScalarType.BYTES && ctx.bytes === "hex" && typeof v === "string") {
      return base64Encode(hexToBytes(v, itemName));
    }
    if (field.message && typeof v === "object" && v !== null && !Array.isArray(v)) {
      return adapt(field.message, v as Record<string, unknown>, ctx, itemName + ".");
    }
    return v;
  };
  if (field.fieldKind === "list") {
    if (!Array.isArray(value)) throw new RestBodyError(`${name}: expected an array`);
    return value.map((v, i) => one(v, `${name}[${i}]`));
  }
  return one(value, name);
}

// parseJsonExact hands integers of 16+ digits over as digit strings.
const EXACT_DIGITS = /^-?\d{16,}$/;

function integerWidth(scalar: ScalarType): [bigint, bigint] | undefined {
  switch (scalar) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return [-(2n ** 31n), 2n ** 31n - 1n];
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return [0n, 2n ** 32n - 1n];
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return [-(2n ** 63n), 2n ** 63n - 1n];
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return [0n, 2n ** 64n - 1n];
    default:
      return undefined;
  }
}

function checkJsonType(f: DescField, v: unknown, name: string): void {
  const fail = () => new RestBodyError(`${name}: expected ${typeWord(f, true)}`);
  if (f.message) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw fail();
    return;
  }
  if (f.enum || f.scalar === ScalarType.STRING || f.scalar === ScalarType.BYTES) {
    if (typeof v !== "string") throw fail();
    return;
  }
  if (f.scalar === ScalarType.BOOL) {
    if (typeof v !== "boolean") throw fail();
    return;
  }
  const width = f.scalar === undefined ? undefined : integerWidth(f.scalar);
  if (!width) {
    if (typeof v !== "number") throw fail();
    return;
  }
  // Beyond 2^53 a JSON number has been rounded to a double (1234567890123456789e0
  // arrives as 1234567890123456800): plain digits are kept exact, so only
  // another spelling gets here, and it is refused rather than rounded.
  if (typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v)) {
    throw new RestBodyError(`${name}: ${v} may have been rounded; write integers beyond 2^53 as plain digits`);
  }
  const n = typeof v === "number" && Number.isInteger(v) ? BigInt(v) : typeof v === "string" && EXACT_DIGITS.test(v) ? BigInt(v) : undefined;
  if (n === undefined) throw fail();
  if (n < width[0] || n > width[1]) {
    // Say the declared rule's range when there is one: that is what the caller can send.
    const r = fieldRules(f);
    throw invalidArgument(`${name}: must be an integer from ${r?.min ?? width[0]} to ${r?.max ?? width[1]}, got ${n}`);
  }
}

/** Parses a REST JSON object into a message of `schema`, strictly (unknown keys are errors). */
export function messageFromRestJson<T extends Message>(
  schema: DescMessage,
  json: Record<string, unknown>,
  bytes: BytesEncoding,
  strictTypes = true,
): T {
  const adapted = adapt(schema, json, { bytes, strictTypes }, "");
  try {
    return fromJson(schema, adapted as JsonValue, { ignoreUnknownFields: false }) as T;
  } catch (err) {
    throw new RestBodyError(explainJsonError(schema, err));
  }
}

// protobuf-es names fields by their full proto path; say it the REST way.
function explainJsonError(schema: DescMessage, err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const unknown = /key "([^"]+)" is unknown/.exec(text);
  if (unknown) return `unknown field ${JSON.stringify(unknown[1])}`;
  const field = new RegExp(`${schema.typeName.replace(/\./g, "\\.")}\\.(\\w+)`).exec(text);
  const f = field && schema.fields.find((x) => x.name === field[1]);
  if (f) return `${f.name}: expected ${typeWord(f)}`;
  return text.replace(/^\[[a-z_]+\] /, "");
}

function typeWord(f: DescField, item = false): string {
  if (f.fieldKind === "list" && !item) return "an array";
  if (f.enum) return `one of ${enumChoices(f.enum)}`;
  if (f.message) return "an object";
  switch (f.scalar) {
    case ScalarType.BOOL:
      return "true or false";
    case ScalarType.STRING:
      return "a string";
    case ScalarType.BYTES:
      return "a string of bytes";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return "a number";
    default:
      return "an integer in range";
  }
}

/**
 * An object for JSON keys, without a prototype: a "__proto__" key is then a
 * key like any other (an unknown field), where assigning it to a plain object
 * would replace that object's prototype and drop the key unseen.
 */
export function jsonObject(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

/**
 * JSON.parse, except that integers too long for a double are kept exact (as
 * strings, which protobuf JSON accepts for 64-bit fields). Scans tokens so
 * digits inside strings are left alone.
 */
export function parseJsonExact(text: string): unknown {
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j])) j++;
      const token = text.slice(i, j);
      if (/^-?\d{16,}$/.test(token)) {
        out += text.slice(last, i) + `"${token}"`;
        last = j;
      }
      i = j - 1;
    }
  }
  return JSON.parse(out + text.slice(last));
}

export interface RestJsonOptions {
  bytes?: BytesEncoding;
}

/** Writes `msg` as REST JSON text. */
export function restJson(schema: DescMessage, msg: Message, opts: RestJsonOptions = {}): string {
  return writeMessage(schema, msg, opts.bytes ?? "base64");
}

function writeMessage(schema: DescMessage, msg: Message, bytes: BytesEncoding): string {
  const rec = msg as unknown as Record<string, unknown>;
  const parts: string[] = [];
  for (const f of schema.fields) {
    let v = rec[f.localName];
    if (f.oneof) {
      const o = rec[f.oneof.localName] as { case?: string; value?: unknown };
      if (o.case !== f.localName) continue;
      v = o.value;
    }
    parts.push(`${JSON.stringify(f.name)}:${writeField(f, v, bytes)}`);
  }
  return `{${parts.join(",")}}`;
}

function writeField(f: DescField, v: unknown, bytes: BytesEncoding): string {
  if (f.fieldKind === "list") return `[${(v as unknown[]).map((x) => writeSingle(f, x, bytes)).join(",")}]`;
  if (f.fieldKind === "map") {
    const entries = Object.entries(v as Record<string, unknown>);
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${writeSingle(f, x, bytes)}`).join(",")}}`;
  }
  return writeSingle(f, v, bytes);
}

function writeSingle(f: DescField, v: unknown, bytes: BytesEncoding): string {
  if (v === undefined) return "null";
  if (f.message) return writeMessage(f.message, v as Message, bytes);
  if (f.enum) return JSON.stringify(enumShortName(f.enum, v as number));
  switch (f.scalar) {
    case ScalarType.BYTES:
      return JSON.stringify(bytes === "hex" ? Buffer.from(v as Uint8Array).toString("hex") : base64Encode(v as Uint8Array));
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
    case ScalarType.STRING:
    case ScalarType.BOOL:
      return JSON.stringify(v);
    default:
      // Integers of every width, bigint included, as exact JSON numbers.
      return String(v);
  }
}
