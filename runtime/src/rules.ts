// Enforces the `(lokey.options.v1.rules)` declared on request fields, for
// every protocol, before a handler runs, and sets the defaults they declare.
// This is the one place a request's values are checked against the rules:
// the parsers before it only refuse what a field cannot hold at all, and the
// handlers after it rely on it. The proto is the only place a limit is
// written; error messages and the OpenAPI schema read the same rules.
import { getOption, hasOption, isFieldSet, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { createContextKey } from "@connectrpc/connect";
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

/** The range a rule allows, as error messages word it ("an integer from 1 to 100000"). */
export function describeRange(r: FieldRules): string {
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

/**
 * The top-level keys a request's JSON wrote (REST knows them; a binary
 * message does not): an implicit-presence number reads 0 whether absent or
 * zero, and with them a missing field is "is required", not "got 0".
 */
export type WrittenKeys = ReadonlySet<string>;

/** A call's WrittenKeys, set by the protocol that read its JSON. */
export const writtenKeysKey = createContextKey<WrittenKeys | undefined>(undefined, { description: "the keys a request's JSON wrote" });

function checkField(msg: Message, field: DescField, path: string, written: WrittenKeys | undefined): void {
  const name = path + field.name;
  const r = fieldRules(field);
  const value = (msg as unknown as Record<string, unknown>)[field.localName];
  const set = isFieldSet(msg, field);
  if (r?.required && !set) {
    const absent = written !== undefined && !written.has(field.name) && !written.has(field.jsonName);
    // Absent or zero, unknown which: the range says more than "required".
    const ranged = !absent && field.fieldKind === "scalar" && (r.min !== undefined || r.max !== undefined) && !field.proto.proto3Optional;
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
      if (field.listKind === "message") items.forEach((item, i) => checkMessage(item as Message, field.message, `${name}[${i}].`, undefined));
      break;
    }
    case "message": {
      if (set) checkMessage(value as Message, field.message, `${name}.`, undefined);
      break;
    }
  }
}

function checkMessage(msg: Message, schema: DescMessage, path: string, written: WrittenKeys | undefined): void {
  for (const field of schema.fields) checkField(msg, field, path, written);
}

/** Throws ConnectError(InvalidArgument) naming the first field that breaks its rules. */
export function validateRules(schema: DescMessage, msg: Message, written?: WrittenKeys): void {
  checkMessage(msg, schema, "", written);
}

// protobuf-es represents these as bigint.
const WIDE = new Set([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);

/**
 * What sets each unset field of `schema` that declares a `default` to it, so
 * handlers read the value the proto documents. Built when a method is bound:
 * a default on a field that cannot be unset stops the service at start.
 */
export function defaultsSetter(schema: DescMessage): (msg: Message) => void {
  const defaults: { field: DescField; value: number | bigint }[] = [];
  for (const field of schema.fields) {
    const v = fieldRules(field)?.default;
    if (v === undefined) continue;
    if (field.fieldKind !== "scalar" || !field.proto.proto3Optional) throw new Error(`${schema.typeName}.${field.name}: a default needs an optional scalar field`);
    defaults.push({ field, value: WIDE.has(field.scalar) ? v : Number(v) });
  }
  if (defaults.length === 0) return () => undefined;
  return (msg) => {
    for (const { field, value } of defaults) if (!isFieldSet(msg, field)) (msg as unknown as Record<string, unknown>)[field.localName] = value;
  };
}
