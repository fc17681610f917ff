// The routes beyond the original API: unbiased range integers (exact
// rejection behaviour on chosen bytes, chi-square uniformity on random ones),
// v4 UUIDs, hex/base64 bytes.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { fakeGatewayPerFile, post, text } from "./harness.js";

const g = fakeGatewayPerFile();

const call = async (path: string, body: unknown) => {
  const r = await post(g.base, path, body);
  return { status: r.status, json: JSON.parse(text(r.bytes)) as Record<string, unknown>, text: text(r.bytes) };
};

describe("POST /api/v1/integers", () => {
  test("candidates beyond the span are rejected, not folded (no modulo)", async () => {
    // [10, 12]: span 2 -> 2-bit candidates; 3 is out of range and must be skipped.
    g.engine.feed("trng", Buffer.from([0x03, 0x00, 0xff, 0x01, 0x07, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]));
    const r = await call("/api/v1/integers", { source: "trng", min: 10, max: 12, count: 3 });
    assert.equal(r.status, 200);
    // 0x03 -> 3 rejected, 0x00 -> 10, 0xff&3=3 rejected, 0x01 -> 11, 0x07&3=3 rejected, 0x02 -> 12
    assert.equal(r.text, '{"values":[10,11,12]}');
  });

  test("full signed 64-bit range, exact in JSON", async () => {
    g.engine.feed("trng", Buffer.from("ffffffffffffffff" + "0000000000000000" + "8000000000000000", "hex"));
    const res = await post(g.base, "/api/v1/integers", '{"source":"trng","min":-9223372036854775808,"max":9223372036854775807,"count":3}');
    assert.equal(res.status, 200);
    assert.equal(text(res.bytes), '{"values":[9223372036854775807,-9223372036854775808,0]}');
  });

  test("min == max needs no randomness", async () => {
    const r = await call("/api/v1/integers", { source: "fortuna", min: -5, max: -5, count: 4 });
    assert.equal(r.text, '{"values":[-5,-5,-5,-5]}');
  });

  test("not enough data: 404, nothing consumed", async () => {
    g.engine.feed("trng", Buffer.from([1, 2]));
    const r = await call("/api/v1/integers", { source: "trng", min: 0, max: 255, count: 3 });
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { error: "No data available" });
    assert.equal(g.engine.available("trng"), 2);
  });

  // Pearson's statistic of observed counts against a uniform expectation.
  const chiSquare = (counts: number[], total: number) => counts.reduce((s, c) => s + (c - total / counts.length) ** 2 / (total / counts.length), 0);

  async function histogram(min: number, max: number, rounds: number, count: number): Promise<number[]> {
    g.engine.endless.add("fortuna");
    const counts = new Array<number>(max - min + 1).fill(0);
    for (let i = 0; i < rounds; i++) {
      const r = await call("/api/v1/integers", { source: "fortuna", min, max, count });
      for (const v of r.json.values as number[]) {
        assert.ok(Number.isInteger(v) && v >= min && v <= max, String(v));
        counts[v - min]++;
      }
    }
    return counts;
  }

  test("dice are uniform: chi-square over [1, 6] (p = 1e-6)", async () => {
    const counts = await histogram(1, 6, 6, 10000);
    // Critical value of chi-square with 5 degrees of freedom at p = 1e-6: a
    // healthy run fails once in a million, not once in every thousand CI runs.
    assert.ok(chiSquare(counts, 60000) < 35.888, `chi2 = ${chiSquare(counts, 60000)} ${counts}`);
  });

  test("uniform over [0, 99], where a byte modulo would be visibly biased (p = 1e-6)", async () => {
    const counts = await histogram(0, 99, 6, 10000);
    // Critical value of chi-square with 99 degrees of freedom at p = 1e-6.
    assert.ok(chiSquare(counts, 60000) < 180.79, `chi2 = ${chiSquare(counts, 60000)}`);
    // The same check does catch the biased recipe: 256 = 2*100 + 56 favours 0..55.
    const biased = new Array<number>(100).fill(0);
    for (const b of randomBytes(60000)) biased[b % 100]++;
    assert.ok(chiSquare(biased, 60000) > 180.79, `biased chi2 = ${chiSquare(biased, 60000)}`);
  });
});

describe("POST /api/v1/uuids", () => {
  test("RFC 9562 version 4 strings from the queued bytes", async () => {
    const bytes = randomBytes(16 * 50);
    g.engine.feed("fortuna", bytes);
    const r = await call("/api/v1/uuids", { source: "fortuna", count: 50 });
    assert.equal(r.status, 200);
    const uuids = r.json.uuids as string[];
    assert.equal(uuids.length, 50);
    uuids.forEach((u, i) => {
      assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const raw = Buffer.from(u.replace(/-/g, ""), "hex");
      const src = bytes.subarray(i * 16, i * 16 + 16);
      // Only the version nibble and the two variant bits differ from the source bytes.
      for (let k = 0; k < 16; k++) {
        const keep = k === 6 ? 0x0f : k === 8 ? 0x3f : 0xff;
        assert.equal(raw[k] & keep, src[k] & keep);
      }
    });
    assert.equal(new Set(uuids).size, 50);
  });
});

describe("POST /api/v1/bytes", () => {
  test("hex by default, base64 on request", async () => {
    g.engine.feed("trng", Buffer.from("00ff10abcdef", "hex"));
    assert.equal((await call("/api/v1/bytes", { source: "trng", length: 3 })).text, '{"data":"00ff10","encoding":"hex"}');
    assert.equal((await call("/api/v1/bytes", { source: "trng", length: 3, encoding: "base64" })).text, '{"data":"q83v","encoding":"base64"}');
    const empty = await call("/api/v1/bytes", { source: "trng", length: 1 });
    assert.equal(empty.status, 404);
  });
});
