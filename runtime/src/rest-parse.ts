// REST JSON (rest-json.ts's dialect) into a request message, in one walk.
// This is parsing, not validation: it refuses what a field cannot hold at
// all (a string for an integer, 2^31 for an int32, a name the enum lacks),
// and leaves whether a value obeys the field's rules to the one check every
// protocol shares (rules.ts). Body values must have their field's JSON type:
// protobuf JSON would take "10" for an integer or 2 for an enum; the
// documented API answers those with "Invalid request body". Query values
// arrive as checked strings (rest-request.ts) and skip that test.
import { create, fromJson, ScalarType, type DescField, type DescMessage, type JsonValue, type Message } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { invalidArgument } from "./errors.js";
import { enumChoices, enumNumber, findField, hexToBytes, RestBodyError, type BytesEncoding } from "./rest-json.js";
import { describeRange, fieldRules } from "./rules.js";

interface ParseContext {
  bytes: BytesEncoding;
  /** Body JSON: each value must have its field's JSON type. */
  strictTypes: boolean;
}

/** Parses a REST JSON object into a message of `schema`, strictly (unknown keys are errors). */
export function messageFromRestJson<T extends Message>(schema: DescMessage, json: Record<string, unknown>, bytes: BytesEncoding, strictTypes = true): T {
  return readMessage(schema, json, { bytes, strictTypes }, "") as T;
}

function readMessage(schema: DescMessage, json: Record<string, unknown>, ctx: ParseContext, path: string): Message {
  // The well-known types have JSON forms of their own.
  if (schema.typeName.startsWith("google.protobuf.")) return fromJsonAt(schema, json, path);
  const msg = create(schema) as unknown as Record<string, unknown>;
  for (const key in json) {
    const field = findField(schema, key);
    if (!field) throw new RestBodyError(`unknown field ${JSON.stringify(path + key)}`);
    const value = json[key];
    // A JSON null leaves a field unset (the proto3 JSON mapping).
    if (value === null) continue;
    const name = path + field.name;
    const v = readField(field, value, ctx, name);
    if (field.oneof) {
      const o = msg[field.oneof.localName] as { case?: string };
      if (o.case !== undefined) throw new RestBodyError(`${name}: only one of ${field.oneof.fields.map((f) => f.name).join(", ")} may be set`);
      msg[field.oneof.localName] = { case: field.localName, value: v };
    } else msg[field.localName] = v;
  }
  return msg as unknown as Message;
}

function readField(field: DescField, value: unknown, ctx: ParseContext, name: string): unknown {
  switch (field.fieldKind) {
    case "list":
      if (!Array.isArray(value)) throw new RestBodyError(`${name}: expected an array`);
      return value.map((v, i) => readSingle(field, v, ctx, `${name}[${i}]`));
    case "map": {
      if (typeof value !== "object" || Array.isArray(value)) throw new RestBodyError(`${name}: expected an object`);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = readSingle(field, v, ctx, `${name}[${k}]`);
      return out;
    }
    default:
      return readSingle(field, value, ctx, name);
  }
}

function readSingle(f: DescField, v: unknown, ctx: ParseContext, name: string): unknown {
  if (ctx.strictTypes) checkJsonType(f, v, name);
  if (f.message) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new RestBodyError(`${name}: expected an object`);
    return readMessage(f.message, v as Record<string, unknown>, ctx, name + ".");
  }
  if (f.enum) {
    const n = typeof v === "string" ? enumNumber(f.enum, v) : undefined;
    if (n === undefined || n === 0) throw invalidArgument(`${name}: unknown value ${JSON.stringify(v)} (expected one of ${enumChoices(f.enum)})`);
    return n;
  }
  switch (f.scalar) {
    case ScalarType.STRING:
      if (typeof v !== "string") throw expected(f, name);
      return v;
    case ScalarType.BYTES:
      if (typeof v !== "string") throw expected(f, name);
      return ctx.bytes === "hex" ? hexToBytes(v, name) : base64(v, f, name);
    case ScalarType.BOOL:
      if (typeof v !== "boolean") throw expected(f, name);
      return v;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof v !== "number") throw expected(f, name);
      return v;
    default:
      return integer(f, v, name);
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function base64(text: string, f: DescField, name: string): Uint8Array {
  if (!BASE64.test(text)) throw expected(f, name);
  return base64Decode(text);
}

function fromJsonAt(schema: DescMessage, json: unknown, path: string): Message {
  try {
    return fromJson(schema, json as JsonValue, { ignoreUnknownFields: false });
  } catch (err) {
    throw new RestBodyError(`${path.replace(/\.$/, "")}: ${err instanceof Error ? err.message.replace(/^\[[a-z_]+\] /, "") : String(err)}`);
  }
}

// parseJsonExact and the query hand integers over as digit strings.
const DIGITS = /^-?\d+$/;

function integerWidth(scalar: ScalarType): [bigint, bigint, boolean] {
  switch (scalar) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return [-(2n ** 31n), 2n ** 31n - 1n, false];
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return [0n, 2n ** 32n - 1n, false];
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return [-(2n ** 63n), 2n ** 63n - 1n, true];
    default:
      return [0n, 2n ** 64n - 1n, true];
  }
}

/** An integer field's value: a number for 32-bit fields, a bigint for 64-bit ones; refused when the field cannot hold it. */
function integer(f: DescField, v: unknown, name: string): number | bigint {
  const [min, max, wide] = integerWidth(f.scalar!);
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= Number(min) && v <= Number(max)) return wide ? BigInt(v) : v;
  const n = typeof v === "number" && Number.isInteger(v) ? BigInt(v) : typeof v === "string" && DIGITS.test(v) ? BigInt(v) : undefined;
  if (n === undefined) throw expected(f, name);
  if (n < min || n > max) {
    // Say the declared rule's range when there is one: that is what the caller can send.
    const r = fieldRules(f);
    const range = r && (r.min !== undefined || r.max !== undefined) ? describeRange(r) : `an integer from ${min} to ${max}`;
    throw invalidArgument(`${name}: must be ${range}, got ${n}`);
  }
  return wide ? n : Number(n);
}

// parseJsonExact hands integers of 16+ digits over as digit strings.
const EXACT_DIGITS = /^-?\d{16,}$/;

/** Body values: the JSON type the field's REST spelling has. */
function checkJsonType(f: DescField, v: unknown, name: string): void {
  if (f.message) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw expected(f, name);
    return;
  }
  if (f.enum || f.scalar === ScalarType.STRING || f.scalar === ScalarType.BYTES) {
    if (typeof v !== "string") throw expected(f, name);
    return;
  }
  if (f.scalar === ScalarType.BOOL || f.scalar === ScalarType.DOUBLE || f.scalar === ScalarType.FLOAT) return; // readSingle checks these
  // Beyond 2^53 a JSON number has been rounded to a double (1234567890123456789e0
  // arrives as 1234567890123456800): plain digits are kept exact, so only
  // another spelling gets here, and it is refused rather than rounded.
  if (typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v)) {
    throw new RestBodyError(`${name}: ${v} may have been rounded; write integers beyond 2^53 as plain digits`);
  }
  if (typeof v === "number" ? !Number.isInteger(v) : typeof v !== "string" || !EXACT_DIGITS.test(v)) throw expected(f, name);
}

function expected(f: DescField, name: string): RestBodyError {
  return new RestBodyError(`${name}: expected ${typeWord(f)}`);
}

function typeWord(f: DescField): string {
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
      return "an integer";
  }
}
