// Enforces the `(lokey.options.v1.rules)` declared on request fields, for
// every protocol, before a handler runs. The proto is the only place a limit
// is written; error messages and the OpenAPI schema read the same rules.
import { getOption, hasOption, isFieldSet, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { rules as rulesExt, type FieldRules } from "../../gen/lokey/options/v1/options_pb.js";
import { invalidArgument } from "./errors.js";

// Descriptors never change, and decoding an option costs more than the rest of
// a request's validation: decode each field's rules once.
const rulesCache = new WeakMap<DescField, FieldRules | null>();

export function fieldRules(field: DescField): FieldRules | undefined {
  let r = rulesCache.get(field);
  if (r === undefined) {
    r = hasOption(field, rulesExt) ? getOption(field, rulesExt) : null;
    rulesCache.set(field, r);
  }
  return r ?? undefined;
}

/**
 * A field's integer range as numbers, for a setting that takes the same
 * values as the field (an environment variable beside an RPC's field), so the
 * limit is still written only in the proto.
 */
export function fieldRange(field: DescField): { min?: number; max?: number } {
  const r = fieldRules(field);
  return { ...(r?.min !== undefined && { min: Number(r.min) }), ...(r?.max !== undefined && { max: Number(r.max) }) };
}

function describeRange(r: FieldRules): string {
  if (r.min !== undefined && r.max !== undefined) return `an integer from ${r.min} to ${r.max}`;
  if (r.min !== undefined) return `an integer >= ${r.min}`;
  return `an integer <= ${r.max}`;
}

function length(v: unknown): number {
  return typeof v === "string" || v instanceof Uint8Array ? v.length : 0;
}

function checkLength(name: string, r: FieldRules, v: unknown, unit: string): void {
  const n = length(v);
  if (r.minLen !== undefined && n < r.minLen) throw invalidArgument(`${name}: must be at least ${r.minLen} ${unit}, got ${n}`);
  if (r.maxLen !== undefined && n > r.maxLen) throw invalidArgument(`${name}: must be at most ${r.maxLen} ${unit}, got ${n}`);
}

function checkField(msg: Message, field: DescField, path: string): void {
  const name = path + field.name;
  const r = fieldRules(field);
  const value = (msg as unknown as Record<string, unknown>)[field.localName];
  const set = isFieldSet(msg, field);
  if (r?.required && !set) {
    // An implicit-presence number reads 0 when absent or zero; the range says more than "required".
    const ranged = field.fieldKind === "scalar" && (r.min !== undefined || r.max !== undefined) && !field.proto.proto3Optional;
    throw invalidArgument(ranged ? `${name}: must be ${describeRange(r)}, got 0` : `${name}: is required`);
  }

  switch (field.fieldKind) {
    case "enum": {
      // Binary and JSON parsers keep unknown numbers; a request must name a real value.
      if (set && !field.enum.values.some((v) => v.number === value)) {
        throw invalidArgument(`${name}: unknown value ${String(value)}`);
      }
      break;
    }
    case "scalar": {
      if (!r || !set) break;
      const isText = field.scalar === ScalarType.STRING;
      const isBytes = field.scalar === ScalarType.BYTES;
      if (isText || isBytes) {
        checkLength(name, r, value, isBytes ? "bytes" : "characters");
      } else if (r.min !== undefined || r.max !== undefined) {
        const n = BigInt(value as number | bigint);
        if ((r.min !== undefined && n < r.min) || (r.max !== undefined && n > r.max)) {
          throw invalidArgument(`${name}: must be ${describeRange(r)}, got ${n}`);
        }
      }
      break;
    }
    case "list": {
      const items = value as unknown[];
      if (r?.minItems !== undefined && items.length < r.minItems) {
        throw invalidArgument(`${name}: must have at least ${r.minItems} item(s), got ${items.length}`);
      }
      if (r?.maxItems !== undefined && items.length > r.maxItems) {
        throw invalidArgument(`${name}: must have at most ${r.maxItems} item(s), got ${items.length}`);
      }
      if (r && field.listKind === "scalar") {
        const unit = field.scalar === ScalarType.BYTES ? "bytes" : "characters";
        items.forEach((item, i) => checkLength(`${name}[${i}]`, r, item, unit));
      }
      if (field.listKind === "message") items.forEach((item, i) => checkMessage(item as Message, field.message, `${name}[${i}].`));
      break;
    }
    case "message": {
      if (set) checkMessage(value as Message, field.message, `${name}.`);
      break;
    }
  }
}

function checkMessage(msg: Message, schema: DescMessage, path: string): void {
  for (const field of schema.fields) checkField(msg, field, path);
}

/** Throws ConnectError(InvalidArgument) naming the first field that breaks its rules. */
export function validateRules(schema: DescMessage, msg: Message): void {
  checkMessage(msg, schema, "");
}
