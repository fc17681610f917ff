// The fuzz run's inputs (fuzz.test.ts): a seeded PRNG, so a failing case
// replays, and generators of hostile requests: REST methods, paths, queries,
// headers and bodies over the routes the proto declares; RPC payloads valid,
// mutated or random, misframed envelopes and odd protocol headers.
import { gzipSync } from "node:zlib";
import { create, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";

/** mulberry32: a small seeded PRNG, so a failure names a case that replays. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes, chance: (p: number) => next() < p };
}
export type Rng = ReturnType<typeof prng>;

// ---- values ---------------------------------------------------------------

const NUMBERS = ["0", "1", "-1", "4", "100000", "100001", "2147483648", "9007199254740993", "9223372036854775808", "-9223372036854775809",
  "1234567890123456789e0", "1e400", "-0", "0.5", "1e3", "99999999999999999999999", "NaN", "0x10"];
const STRINGS = ["", "trng", "fortuna", "TRNG", "SOURCE_FORTUNA", "uint8", "int64", "binary", "hex", "base64", "unspecified", "\u0000", "☃", "x".repeat(2000), "%zz", "true"];

function jsonValue(r: Rng, depth = 0): string {
  switch (r.int(depth > 3 ? 5 : 8)) {
    case 0:
      return r.pick(NUMBERS);
    case 1:
      return JSON.stringify(r.pick(STRINGS));
    case 2:
      return r.pick(["true", "false", "null"]);
    case 3:
      return String(r.int(1000) - 10);
    case 4:
      return JSON.stringify(r.bytes(r.int(8)).toString("hex"));
    case 5:
      return `[${Array.from({ length: r.int(4) }, () => jsonValue(r, depth + 1)).join(",")}]`;
    default:
      return jsonObject(r, [], depth + 1);
  }
}

function jsonObject(r: Rng, fields: string[], depth = 0): string {
  const keys = [...fields, "__proto__", "constructor", "nope", "", "max_bytes", "chunkSize"];
  const n = r.int(5);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`${JSON.stringify(fields.length && r.chance(0.7) ? r.pick(fields) : r.pick(keys))}:${jsonValue(r, depth)}`);
  return `{${parts.join(",")}}`;
}

function restBody(r: Rng, fields: string[]): Buffer {
  switch (r.int(7)) {
    case 0:
      return r.bytes(r.int(64));
    case 1:
      return Buffer.from(jsonObject(r, fields).slice(0, 1 + r.int(40))); // cut off
    case 2:
      return Buffer.from("[".repeat(2000) + "]".repeat(2000));
    case 3:
      return Buffer.from(jsonValue(r));
    default:
      return Buffer.from(jsonObject(r, fields));
  }
}

export const fieldNames = (m: DescMessage) => m.fields.flatMap((f) => [f.name, f.jsonName]);

// ---- REST -----------------------------------------------------------------

export function restCase(r: Rng, routes: { verb: string; path: string; method: DescMethod }[]): { method: string; path: string; headers: Record<string, string>; body?: Buffer } {
  const route = r.pick(routes);
  const method = r.chance(0.6) ? route.verb : r.pick(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]);
  let path = route.path;
  if (r.chance(0.15)) path = r.pick(["/api/v1/", "/api//v1/data", "/api/v1/data/", "/api/v1/%zz", "/api/v1/%c3%28", "/lokey.v1.GatewayService/", "/api/v1/stream/x", "/.."]) + (r.chance(0.5) ? r.pick(STRINGS).replace(/[^\x21-\x7e]/g, "") : "");
  const fields = fieldNames(route.method.input);
  if (r.chance(0.7)) {
    const pairs: string[] = [];
    for (let i = r.int(4); i > 0; i--) {
      const key = r.chance(0.8) && fields.length ? r.pick(fields) : r.pick(["nope", "__proto__", "", "source[]", "a=b"]);
      const value = r.chance(0.5) ? r.pick(NUMBERS) : r.pick(STRINGS);
      pairs.push(`${encodeURIComponent(key)}=${r.chance(0.9) ? encodeURIComponent(value) : "%"}`);
    }
    if (pairs.length) path += "?" + pairs.join("&");
  }
  const headers: Record<string, string> = {};
  if (r.chance(0.7)) headers["content-type"] = r.pick(["application/json", "text/plain", "application/x-www-form-urlencoded", "application/proto", "x/y; charset=utf-9"]);
  if (r.chance(0.2)) headers.origin = r.pick(["http://evil.example", "null", "http://127.0.0.1"]);
  if (r.chance(0.2)) headers.authorization = r.pick(["Bearer x", "Bearer " + "a".repeat(40), "Basic Zm9vOmJhcg==", "Bearer"]);
  if (r.chance(0.2)) headers["x-api-key"] = r.pick(["", "k", "x".repeat(300)]);
  if (r.chance(0.2)) headers["x-forwarded-for"] = r.pick(["1.2.3.4", "garbage", "127.0.0.1, 10.0.0.1", "::1"]);
  let body: Buffer | undefined;
  if (method !== "GET" && method !== "HEAD" && r.chance(0.85)) {
    body = restBody(r, fields);
    if (r.chance(0.15)) {
      const coding = r.pick(["gzip", "gzip-bad", "br", "compress", "gzip, identity", "deflate"]);
      headers["content-encoding"] = coding === "gzip-bad" ? "gzip" : coding;
      if (coding === "gzip" || coding === "gzip, identity") body = gzipSync(body);
    }
  }
  return { method, path, headers, body };
}

// ---- RPC ------------------------------------------------------------------

export type Protocol = "connect-json" | "connect-proto" | "grpc" | "grpc-web";

export function frame(payload: Buffer, r: Rng): Buffer {
  const head = Buffer.alloc(5);
  head[0] = r.chance(0.1) ? r.pick([1, 2, 0x80, 0xff]) : 0;
  head.writeUInt32BE(r.chance(0.1) ? r.int(2 ** 31) : payload.length, 1);
  const out = Buffer.concat([head, payload]);
  return r.chance(0.1) ? out.subarray(0, r.int(out.length)) : out;
}

export function rpcPayload(r: Rng, method: DescMethod, json: boolean): Buffer {
  if (json) return Buffer.from(r.chance(0.8) ? jsonObject(r, fieldNames(method.input)) : jsonValue(r));
  if (r.chance(0.3)) return r.bytes(r.int(40));
  const valid = Buffer.from(toBinary(method.input, create(method.input)));
  const msg = Buffer.concat([valid, r.bytes(r.int(12))]);
  for (let i = r.int(3); i > 0 && msg.length > 0; i--) msg[r.int(msg.length)] = r.int(256);
  return msg;
}

export function rpcHeaders(r: Rng, protocol: Protocol, json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  h["content-type"] = {
    "connect-json": "application/json",
    "connect-proto": "application/proto",
    grpc: json ? "application/grpc+json" : r.pick(["application/grpc", "application/grpc+proto"]),
    "grpc-web": json ? "application/grpc-web+json" : "application/grpc-web+proto",
  }[protocol];
  if (r.chance(0.1)) h["content-type"] = r.pick(["application/grpc+yaml", "text/plain", "application/connect+proto"]);
  if (r.chance(0.15)) h[protocol.startsWith("connect") ? "connect-timeout-ms" : "grpc-timeout"] = r.pick(["1", "0", "abc", "99999999999H", "-5S", "10S"]);
  if (r.chance(0.1) && protocol.startsWith("connect")) h["connect-protocol-version"] = r.pick(["1", "2", ""]);
  return h;
}
