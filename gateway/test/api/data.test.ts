// POST /api/v1/data over real HTTP: every format read big-endian from the
// queued bytes, exact 64-bit JSON, binary headers, all-or-nothing and
// delete-on-read.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { fakeGatewayPerFile, post, text } from "./harness.js";

const g = fakeGatewayPerFile();

const data = (body: unknown) => post(g.base, "/api/v1/data", body);

// Reference decoding written independently of gateway/src/formats.ts: hex digits to BigInt.
function expected(format: string, bytes: Buffer): string {
  const size = { int8: 1, int16: 2, int32: 4, int64: 8, uint8: 1, uint16: 2, uint32: 4, uint64: 8 }[format]!;
  const signed = format.startsWith("int");
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    let v = BigInt("0x" + bytes.subarray(i, i + size).toString("hex"));
    if (signed && v >= 1n << BigInt(size * 8 - 1)) v -= 1n << BigInt(size * 8);
    out.push(v.toString());
  }
  return `[${out.join(",")}]`;
}

describe("numeric formats", () => {
  for (const format of ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]) {
    test(`${format}: a bare JSON array of the big-endian values, exact`, async () => {
      const size = Number(/\d+/.exec(format)![0]) / 8;
      const bytes = randomBytes(size * 50);
      g.engine.feed("trng", bytes);
      const r = await data({ format, limit: 50, source: "trng" });
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type")!, /^application\/json/);
      assert.equal(text(r.bytes), expected(format, bytes));
    });
  }

  test("signed and unsigned edge values", async () => {
    const edges = Buffer.from("7fffffffffffffff" + "8000000000000000" + "ffffffffffffffff" + "0000000000000000", "hex");
    const cases: [string, number, string][] = [
      ["int64", 4, "[9223372036854775807,-9223372036854775808,-1,0]"],
      ["uint64", 4, "[9223372036854775807,9223372036854775808,18446744073709551615,0]"],
      ["int32", 8, "[2147483647,-1,-2147483648,0,-1,-1,0,0]"],
      ["uint32", 8, "[2147483647,4294967295,2147483648,0,4294967295,4294967295,0,0]"],
      ["int16", 2, "[32767,-1]"],
      ["int8", 2, "[127,-1]"],
      ["uint8", 2, "[127,255]"],
    ];
    for (const [format, limit, want] of cases) {
      g.engine.queues.trng.bytes = Buffer.alloc(0);
      g.engine.feed("trng", edges);
      const r = await data({ format, limit, source: "trng" });
      assert.equal(r.status, 200, format);
      assert.equal(text(r.bytes), want, format);
    }
  });

  test("uint64 JSON is not rounded through a double", async () => {
    g.engine.feed("fortuna", Buffer.from("0020000000000001", "hex")); // 2^53 + 1
    const r = await data({ format: "uint64", limit: 1, source: "fortuna" });
    assert.equal(text(r.bytes), "[9007199254740993]");
  });
});

describe("binary", () => {
  test("raw bytes with the documented headers", async () => {
    const bytes = randomBytes(1000);
    g.engine.feed("fortuna", bytes);
    const r = await data({ format: "binary", limit: 1000, source: "fortuna" });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/octet-stream");
    assert.equal(r.headers.get("content-disposition"), "attachment; filename=random.bin");
    assert.equal(r.headers.get("content-length"), "1000");
    assert.deepEqual(Buffer.from(r.bytes), bytes);
  });

  test("numeric values are the same bytes binary would have returned", async () => {
    const bytes = randomBytes(64);
    g.engine.consume = false;
    g.engine.feed("trng", bytes);
    const bin = await data({ format: "binary", limit: 64, source: "trng" });
    const u64 = await data({ format: "uint64", limit: 8, source: "trng" });
    assert.equal(text(u64.bytes), expected("uint64", Buffer.from(bin.bytes)));
  });
});

describe("queue semantics", () => {
  test("all or nothing: a short queue answers 404 and keeps its bytes", async () => {
    g.engine.feed("trng", randomBytes(10));
    const r = await data({ format: "uint32", limit: 3, source: "trng" });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get("content-type"), "application/json; charset=utf-8");
    assert.deepEqual(JSON.parse(text(r.bytes)), { error: "No data available" });
    assert.equal(g.engine.available("trng"), 10);
  });

  test("an empty queue answers 404 for every format", async () => {
    for (const format of ["int8", "uint64", "binary"]) {
      const r = await data({ format, limit: 1, source: "fortuna" });
      assert.equal(r.status, 404, format);
      assert.equal(text(r.bytes), '{"error":"No data available"}');
    }
  });

  test("delete on read: the same bytes are never served twice", async () => {
    const bytes = randomBytes(32);
    g.engine.feed("trng", bytes);
    const a = await data({ format: "binary", limit: 16, source: "trng" });
    const b = await data({ format: "binary", limit: 16, source: "trng" });
    assert.deepEqual(Buffer.concat([a.bytes, b.bytes]), bytes);
    assert.equal((await data({ format: "binary", limit: 1, source: "trng" })).status, 404);
  });

  test("consume off: reads leave the data in the queue", async () => {
    const put = await fetch(g.base + "/api/v1/config/consume", { method: "PUT", body: '{"consume": false}' });
    assert.equal(put.status, 200);
    assert.equal(await put.text(), '{"consume":false}');
    const bytes = randomBytes(8);
    g.engine.feed("trng", bytes);
    const a = await data({ format: "binary", limit: 8, source: "trng" });
    const b = await data({ format: "binary", limit: 8, source: "trng" });
    assert.deepEqual(Buffer.from(a.bytes), bytes);
    assert.deepEqual(Buffer.from(b.bytes), bytes);
    const back = await fetch(g.base + "/api/v1/config/consume", { method: "PUT", body: '{"consume": true}' });
    assert.equal(await back.text(), '{"consume":true}');
    assert.equal((await (await fetch(g.base + "/api/v1/config/consume")).text()), '{"consume":true}');
  });

  test("offset counts values, not bytes", async () => {
    const bytes = randomBytes(32);
    g.engine.feed("trng", bytes);
    const r = await data({ format: "uint32", limit: 2, offset: 3, source: "trng" });
    assert.equal(r.status, 200);
    assert.equal(text(r.bytes), expected("uint32", bytes.subarray(12, 20)));
    // Asking beyond the queue with the offset is a 404 with nothing consumed.
    const before = g.engine.available("trng");
    assert.equal((await data({ format: "uint64", limit: 1, offset: 3, source: "trng" })).status, 404);
    assert.equal(g.engine.available("trng"), before);
  });

  test("the two sources are separate queues", async () => {
    g.engine.feed("trng", Buffer.from([1]));
    g.engine.feed("fortuna", Buffer.from([2]));
    assert.equal(text((await data({ format: "uint8", limit: 1, source: "fortuna" })).bytes), "[2]");
    assert.equal(text((await data({ format: "uint8", limit: 1, source: "trng" })).bytes), "[1]");
  });

  test("curl's default form Content-Type still reads the body as JSON", async () => {
    g.engine.feed("trng", Buffer.from([7, 8]));
    const r = await post(g.base, "/api/v1/data", '{"format":"uint8","limit":2,"source":"trng"}', { "Content-Type": "application/x-www-form-urlencoded" });
    assert.equal(r.status, 200);
    assert.equal(text(r.bytes), "[7,8]");
  });
});
