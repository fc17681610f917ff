// REST request strictness the proto JSON parser does not give: protobuf JSON
// accepts "10" for an integer and 2 for an enum, but the documented API
// answers wrong JSON types with 400 "Invalid request body", and a number
// outside its field's width with a message saying what is allowed.
// Enum short names ("uint64") are spelled out as proto names
// ("FORMAT_UINT64") here: the runtime's matcher compares them against an
// upper-cased name with the descriptor's lower-case shared prefix, so only
// full names get through it.
import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { fieldRules, invalidArgument } from "../../runtime/src/index.js";
import { findField, RestBodyError } from "../../runtime/src/rest-json.js";

const INT32: [bigint, bigint] = [-(2n ** 31n), 2n ** 31n - 1n];
const INT64: [bigint, bigint] = [-(2n ** 63n), 2n ** 63n - 1n];
const UINT32: [bigint, bigint] = [0n, 2n ** 32n - 1n];
const UINT64: [bigint, bigint] = [0n, 2n ** 64n - 1n];

function widthOf(scalar: ScalarType): [bigint, bigint] | undefined {
  switch (scalar) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return INT32;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return INT64;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return UINT32;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return UINT64;
    default:
      return undefined;
  }
}

// parseJsonExact hands integers of 16+ digits over as digit strings.
const EXACT_DIGITS = /^-?\d{16,}$/;

function integerOf(value: unknown): bigint | undefined {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (typeof value === "string" && EXACT_DIGITS.test(value)) return BigInt(value);
  return undefined;
}

/** The proto name of an enum value spelled "uint64", "UINT64" or "FORMAT_UINT64"; unknown text is returned as is. */
function enumProtoName(e: DescEnum, text: string): string {
  const t = text.toUpperCase();
  const prefix = (e.sharedPrefix ?? "").toUpperCase();
  return e.values.find((v) => v.name === t || v.name === prefix + t)?.name ?? text;
}

function checkValue(f: DescField, value: unknown): unknown {
  if (value === null) return value;
  if (f.fieldKind === "enum") {
    if (typeof value !== "string") throw new RestBodyError(`${f.name}: expected a string`);
    return enumProtoName(f.enum, value);
  }
  if (f.fieldKind !== "scalar") return;
  if (f.scalar === ScalarType.BOOL) {
    if (typeof value !== "boolean") throw new RestBodyError(`${f.name}: expected true or false`);
    return value;
  }
  if (f.scalar === ScalarType.STRING) {
    if (typeof value !== "string") throw new RestBodyError(`${f.name}: expected a string`);
    return value;
  }
  const width = widthOf(f.scalar);
  if (!width) return value;
  const n = integerOf(value);
  if (n === undefined) throw new RestBodyError(`${f.name}: expected an integer`);
  if (n < width[0] || n > width[1]) {
    // Say the rule's range when the proto declares one: that is what the caller can send.
    const r = fieldRules(f);
    const lo = r?.min ?? width[0];
    const hi = r?.max ?? width[1];
    throw invalidArgument(`${f.name}: must be an integer from ${lo} to ${hi}, got ${n}`);
  }
  return value;
}

/** A `rest.parse` hook for body routes: JSON types must match the fields' types. */
export function strictBody(schema: DescMessage): (json: Record<string, unknown>) => Record<string, unknown> {
  return (json) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(json)) {
      const f = findField(schema, key);
      // Unknown keys are reported by the runtime's strict parse.
      out[key] = f ? checkValue(f, value) : value;
    }
    return out;
  };
}

/** A `rest.parse` hook for query routes (values arrive as strings): enum names only. */
export function queryEnums(schema: DescMessage): (json: Record<string, unknown>) => Record<string, unknown> {
  return (json) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(json)) {
      const f = findField(schema, key);
      out[key] = f?.fieldKind === "enum" && typeof value === "string" ? enumProtoName(f.enum, value) : value;
    }
    return out;
  };
}
