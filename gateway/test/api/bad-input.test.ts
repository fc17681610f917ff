// Every field wrong every way: a 400 with a JSON error naming the problem,
// never a 5xx, and nothing consumed from any queue.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { startGateway, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";

let g: Gateway<FakeEngine>;
before(async () => {
  g = await startGateway();
  g.engine.feed("trng", randomBytes(4096));
  g.engine.feed("fortuna", randomBytes(4096));
});
after(() => g.close());

const ok = { format: "uint8", limit: 4, source: "trng" };
const INVALID_BODY = "Invalid request body";

interface Case {
  name: string;
  body: unknown;
  /** Exact error string, or a pattern for "<what is wrong>" messages. */
  error: string | RegExp;
}

const dataCases: Case[] = [
  { name: "empty body", body: "", error: INVALID_BODY },
  { name: "whitespace body", body: "  \n", error: INVALID_BODY },
  { name: "malformed JSON", body: '{"format": "uint8",', error: INVALID_BODY },
  { name: "not JSON at all", body: "format=uint8&limit=4", error: INVALID_BODY },
  { name: "JSON array", body: "[]", error: INVALID_BODY },
  { name: "JSON null", body: "null", error: INVALID_BODY },
  { name: "JSON number", body: "42", error: INVALID_BODY },
  { name: "JSON string", body: '"uint8"', error: INVALID_BODY },
  { name: "format missing", body: { limit: 4, source: "trng" }, error: /^format: is required/ },
  { name: "format null", body: { ...ok, format: null }, error: /^format: is required/ },
  { name: "format empty", body: { ...ok, format: "" }, error: /^format: unknown value ""/ },
  { name: "format unknown", body: { ...ok, format: "float32" }, error: /^format: unknown value "float32" \(expected one of int8, .*binary\)/ },
  { name: "format unspecified", body: { ...ok, format: "unspecified" }, error: /^format: unknown value/ },
  { name: "format number", body: { ...ok, format: 5 }, error: INVALID_BODY },
  { name: "format bool", body: { ...ok, format: true }, error: INVALID_BODY },
  { name: "format array", body: { ...ok, format: ["uint8"] }, error: INVALID_BODY },
  { name: "format object", body: { ...ok, format: {} }, error: INVALID_BODY },
  { name: "limit missing", body: { format: "uint8", source: "trng" }, error: /^limit: is required/ },
  { name: "limit null", body: { ...ok, limit: null }, error: /^limit: is required/ },
  { name: "limit zero", body: { ...ok, limit: 0 }, error: "limit: must be an integer from 1 to 100000, got 0" },
  { name: "limit negative", body: { ...ok, limit: -1 }, error: "limit: must be an integer from 1 to 100000, got -1" },
  { name: "limit too big", body: { ...ok, limit: 100001 }, error: "limit: must be an integer from 1 to 100000, got 100001" },
  { name: "limit beyond int32", body: { ...ok, limit: 2 ** 31 }, error: /^limit: must be an integer from 1 to 100000/ },
  { name: "limit beyond 64 bits", body: '{"format":"uint8","limit":99999999999999999999999,"source":"trng"}', error: /^limit: must be an integer from 1 to 100000/ },
  { name: "limit fraction", body: { ...ok, limit: 1.5 }, error: INVALID_BODY },
  { name: "limit string", body: { ...ok, limit: "4" }, error: INVALID_BODY },
  { name: "limit bool", body: { ...ok, limit: true }, error: INVALID_BODY },
  { name: "limit array", body: { ...ok, limit: [4] }, error: INVALID_BODY },
  { name: "offset negative", body: { ...ok, offset: -1 }, error: "offset: must be an integer from 0 to 100000000, got -1" },
  { name: "offset too big", body: { ...ok, offset: 100000001 }, error: "offset: must be an integer from 0 to 100000000, got 100000001" },
  { name: "offset fraction", body: { ...ok, offset: 0.5 }, error: INVALID_BODY },
  { name: "offset string", body: { ...ok, offset: "1" }, error: INVALID_BODY },
  { name: "source missing", body: { format: "uint8", limit: 4 }, error: /^source: is required/ },
  { name: "source unknown", body: { ...ok, source: "hw" }, error: /^source: unknown value "hw" \(expected one of trng, fortuna\)/ },
  { name: "source empty", body: { ...ok, source: "" }, error: /^source: unknown value/ },
  { name: "source number", body: { ...ok, source: 1 }, error: INVALID_BODY },
  { name: "extra field", body: { ...ok, count: 4 }, error: INVALID_BODY },
  { name: "__proto__ key, an unknown field like any other", body: '{"format":"uint8","limit":4,"source":"trng","__proto__":{"limit":1}}', error: INVALID_BODY },
  { name: "huge body under the request limit", body: { ...ok, padding: "x".repeat(1_000_000) }, error: INVALID_BODY },
];

async function expectRejected(path: string, method: string, c: Case): Promise<void> {
  const before = { trng: g.engine.available("trng"), fortuna: g.engine.available("fortuna") };
  const res = await fetch(g.base + path, { method, headers: { "Content-Type": "application/json" }, body: typeof c.body === "string" ? c.body : JSON.stringify(c.body) });
  const text = await res.text();
  assert.equal(res.status, 400, `${c.name}: ${res.status} ${text}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as { error: unknown };
  assert.deepEqual(Object.keys(body), ["error"], `${c.name}: the documented shape, nothing beside "error"`);
  assert.equal(typeof body.error, "string");
  if (typeof c.error === "string") assert.equal(body.error, c.error, c.name);
  else assert.match(body.error as string, c.error, c.name);
  if (body.error === INVALID_BODY) assert.ok(res.headers.get("x-error-detail"), `${c.name}: X-Error-Detail says why`);
  assert.deepEqual({ trng: g.engine.available("trng"), fortuna: g.engine.available("fortuna") }, before, `${c.name}: nothing consumed`);
}

describe("POST /api/v1/data bad input", () => {
  for (const c of dataCases) test(c.name, () => expectRejected("/api/v1/data", "POST", c));

  test("the valid request next to them is served (the table can fail)", async () => {
    const res = await fetch(g.base + "/api/v1/data", { method: "POST", body: JSON.stringify(ok) });
    assert.equal(res.status, 200);
  });

  test("a body beyond the request limit is refused, not a 5xx, nothing consumed", async () => {
    const before = g.engine.available("trng");
    const res = await fetch(g.base + "/api/v1/data", { method: "POST", body: JSON.stringify({ ...ok, padding: "x".repeat(5 * 1024 * 1024) }) });
    // The runtime answers 413 Payload Too Large before reading further.
    assert.ok(res.status === 400 || res.status === 413, String(res.status));
    assert.equal(typeof ((await res.json()) as { error: unknown }).error, "string");
    assert.equal(g.engine.available("trng"), before);
  });
});

const tables: [string, string, Case[]][] = [
  [
    "PUT",
    "/api/v1/config/queue",
    [
      { name: "no field", body: {}, error: "at least one of trng_queue_size, fortuna_queue_size is required" },
      { name: "zero", body: { trng_queue_size: 0 }, error: "trng_queue_size: must be an integer from 10 to 1000000, got 0" },
      { name: "negative", body: { fortuna_queue_size: -5 }, error: "fortuna_queue_size: must be an integer from 10 to 1000000, got -5" },
      // The original LoKey's limits, 10..1000000 (docs/reference/original-design.md).
      { name: "below the original's minimum", body: { trng_queue_size: 9 }, error: "trng_queue_size: must be an integer from 10 to 1000000, got 9" },
      { name: "too big", body: { trng_queue_size: 1000001 }, error: "trng_queue_size: must be an integer from 10 to 1000000, got 1000001" },
      { name: "fortuna too big", body: { fortuna_queue_size: 1000001 }, error: "fortuna_queue_size: must be an integer from 10 to 1000000, got 1000001" },
      { name: "beyond 64 bits", body: '{"trng_queue_size": 184467440737095516150}', error: /^trng_queue_size: must be an integer from 10 to 1000000/ },
      { name: "string", body: { trng_queue_size: "100" }, error: INVALID_BODY },
      { name: "fraction", body: { trng_queue_size: 10.5 }, error: INVALID_BODY },
      { name: "extra", body: { trng_queue_size: 10, size: 1 }, error: INVALID_BODY },
      { name: "malformed", body: "{", error: INVALID_BODY },
    ],
  ],
  [
    "PUT",
    "/api/v1/config/consume",
    [
      { name: "missing", body: {}, error: /^consume: is required/ },
      { name: "string", body: { consume: "false" }, error: INVALID_BODY },
      { name: "number", body: { consume: 0 }, error: INVALID_BODY },
      { name: "empty", body: "", error: INVALID_BODY },
    ],
  ],
  [
    "POST",
    "/api/v1/integers",
    [
      { name: "min > max", body: { source: "trng", min: 7, max: 6, count: 1 }, error: "min (7) must not exceed max (6)" },
      { name: "max beyond int64", body: '{"source":"trng","min":0,"max":9223372036854775808,"count":1}', error: /^max: must be an integer from -9223372036854775808 to 9223372036854775807/ },
      { name: "min beyond int64", body: '{"source":"trng","min":-9223372036854775809,"max":0,"count":1}', error: /^min: must be an integer from -9223372036854775808/ },
      { name: "count zero", body: { source: "trng", min: 1, max: 6, count: 0 }, error: "count: must be an integer from 1 to 100000, got 0" },
      { name: "count too big", body: { source: "trng", min: 1, max: 6, count: 100001 }, error: "count: must be an integer from 1 to 100000, got 100001" },
      { name: "source missing", body: { min: 1, max: 6, count: 1 }, error: /^source: is required/ },
      { name: "min string", body: { source: "trng", min: "1", max: 6, count: 1 }, error: INVALID_BODY },
      // 1234567890123456789e0 parses as the double 1234567890123456800: refused, not rounded.
      { name: "min beyond 2^53 in exponent form", body: '{"source":"trng","min":1234567890123456789e0,"max":9223372036854775807,"count":1}', error: INVALID_BODY },
      { name: "max beyond 2^53 with a fraction part", body: '{"source":"trng","min":0,"max":12345678901234567.0,"count":1}', error: INVALID_BODY },
    ],
  ],
  [
    "POST",
    "/api/v1/uuids",
    [
      { name: "count zero", body: { source: "trng", count: 0 }, error: "count: must be an integer from 1 to 10000, got 0" },
      { name: "count too big", body: { source: "trng", count: 10001 }, error: "count: must be an integer from 1 to 10000, got 10001" },
      { name: "source unknown", body: { source: "x", count: 1 }, error: /^source: unknown value "x"/ },
    ],
  ],
  [
    "POST",
    "/api/v1/bytes",
    [
      { name: "length zero", body: { source: "trng", length: 0 }, error: "length: must be an integer from 1 to 100000, got 0" },
      { name: "encoding unknown", body: { source: "trng", length: 4, encoding: "base32" }, error: /^encoding: unknown value "base32" \(expected one of hex, base64\)/ },
    ],
  ],
];

for (const [method, path, cases] of tables) {
  describe(`${method} ${path} bad input`, () => {
    for (const c of cases) test(c.name, () => expectRejected(path, method, c));
  });
}

describe("GET /api/v1/stream bad input", () => {
  for (const [query, error] of [
    ["", /^source: is required/],
    ["source=hw", /^source: unknown value "hw"/],
    ["source=trng&max_bytes=0", /^max_bytes: must be an integer from 1 to 1099511627776, got 0/],
    ["source=trng&chunk_size=1048577", /^chunk_size: must be an integer from 1 to 1048576/],
    ["source=trng&chunk_size=abc", /^chunk_size: must be an integer/],
    ["source=trng&nope=1", /^unknown query parameter "nope"/],
  ] as const) {
    test(query || "(no query)", async () => {
      const before = g.engine.available("trng");
      const res = await fetch(`${g.base}/api/v1/stream?${query}`);
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, error);
      assert.equal(g.engine.available("trng"), before);
    });
  }
});

describe("POST /api/v1/data with a Content-Encoding", () => {
  test("gzip is decoded and served", async () => {
    const res = await fetch(g.base + "/api/v1/data", { method: "POST", headers: { "Content-Encoding": "gzip" }, body: gzipSync(JSON.stringify(ok)) });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as unknown[]).length, 4);
  });

  test("an unsupported coding: 415 with Accept-Encoding, nothing consumed", async () => {
    const before = g.engine.available("trng");
    const res = await fetch(g.base + "/api/v1/data", { method: "POST", headers: { "Content-Encoding": "zstd" }, body: JSON.stringify(ok) });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get("accept-encoding"), "gzip, deflate, br");
    assert.equal(typeof ((await res.json()) as { error: unknown }).error, "string");
    assert.equal(g.engine.available("trng"), before);
  });

  test("a gzip bomb is refused beyond the request limit, nothing consumed", async () => {
    const before = g.engine.available("trng");
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"format":"uint8","limit":4,"source":"trng","padding":"'), Buffer.alloc(64 * 1024 * 1024, 0x61), Buffer.from('"}')]));
    const res = await fetch(g.base + "/api/v1/data", { method: "POST", headers: { "Content-Encoding": "gzip" }, body: bomb });
    assert.equal(res.status, 400);
    assert.match(res.headers.get("x-error-detail") ?? "", /once decoded/);
    assert.equal(g.engine.available("trng"), before);
  });
});
