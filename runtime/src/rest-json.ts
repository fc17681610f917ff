// The JSON dialect of LoKey's REST routes, which predate the protos: snake_case
// names, enums by short lowercase name ("trng" for SOURCE_TRNG), 64-bit
// integers as exact JSON numbers (never strings, never rounded), every field
// written. Bytes are base64 by default or hex where a service documents hex.
import { ScalarType, type DescEnum, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { invalidArgument } from "./errors.js";

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
export function enumNumber(e: DescEnum, text: string): number | undefined {
  const t = text.toUpperCase();
  // protobuf-es gives the shared prefix in lower case ("format_").
  const prefix = (e.sharedPrefix ?? "").toUpperCase();
  return e.values.find((v) => v.name === t || v.name === prefix + t)?.number;
}

/** The REST names of an enum's values, for error messages. */
export function enumChoices(e: DescEnum): string {
  return e.values.filter((v) => v.number !== 0).map((v) => enumShortName(e, v.number)).join(", ");
}

// Each message's fields by REST name and JSON name, found once.
const fieldsByKey = new WeakMap<DescMessage, Map<string, DescField>>();

export function findField(schema: DescMessage, key: string): DescField | undefined {
  let byKey = fieldsByKey.get(schema);
  if (!byKey) {
    byKey = new Map();
    for (const f of schema.fields) byKey.set(f.jsonName, f).set(f.name, f);
    fieldsByKey.set(schema, byKey);
  }
  return byKey.get(key);
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function hexToBytes(text: string, name: string): Uint8Array {
  if (!HEX.test(text)) throw invalidArgument(`${name}: must be a hex string of whole bytes`);
  return Uint8Array.from(Buffer.from(text, "hex"));
}

/**
 * An object for JSON keys, without a prototype: a "__proto__" key is then a
 * key like any other (an unknown field), where assigning it to a plain object
 * would replace that object's prototype and drop the key unseen.
 */
export function jsonObject(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

const LONG_DIGITS = /\d{16}/;

/**
 * JSON.parse, except that integers too long for a double are kept exact (as
 * strings, which protobuf JSON accepts for 64-bit fields). Scans tokens so
 * digits inside strings are left alone.
 */
export function parseJsonExact(text: string): unknown {
  // Most bodies have no run of 16 digits anywhere: nothing to keep exact.
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
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
