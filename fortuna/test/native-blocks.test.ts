// The native GenerateBlocks (fortuna/native) through its JS interface: the
// same blocks as the reference model at every carry, and every bad argument
// refused with the key untouched (it writes into caller memory, so a missed
// check would be memory corruption, not a wrong answer).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { nativeBlocks } from "../src/native-blocks.js";
import { nativeAddonSkip } from "./native-addon.js";
import { portableGenerateBlocks } from "../src/counter-blocks.js";
import { refPseudoRandom } from "./reference.js";

const MOD = 1n << 128n;

describe("native generateBlocks", { skip: nativeAddonSkip }, () => {
  const native = nativeBlocks!;

  test("matches AES-256 over little-endian counters across every carry, then rekeys in place", () => {
    const cases: [bigint, number][] = [
      [0n, 0],
      [1n, 1],
      [5n, 300], // more than one 256-block piece
      [2n ** 32n - 3n, 6],
      [2n ** 64n - 2n, 4],
      [2n ** 64n - 1n, 513],
      [2n ** 96n - 1n, 3],
      [2n ** 128n - 3n, 2], // the rekey blocks wrap to 0 (docs/reference/fortuna.md: C is mod 2^128)
      [2n ** 128n - 1n, 3],
    ];
    for (const [counter, blocks] of cases) {
      const key = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 7 + blocks) & 0xff));
      // The reference model's counter blocks keep the low 128 bits, so it wraps as docs/reference/fortuna.md says.
      const want = refPseudoRandom({ key: Buffer.from(key), counter }, blocks * 16);
      const out = Buffer.alloc(blocks * 16);
      native.generateBlocks(key, counter, out);
      assert.ok(out.equals(want.out), `output for counter ${counter} x ${blocks}`);
      assert.ok(key.equals(want.state.key), `new key for counter ${counter} x ${blocks}`);
    }
  });

  test("agrees with the portable engine on random counters and lengths near every carry", () => {
    const portable = portableGenerateBlocks();
    const edges = [0n, 2n ** 32n, 2n ** 64n, 2n ** 96n, 2n ** 128n];
    for (let i = 0; i < 200; i++) {
      const edge = edges[i % edges.length];
      const offset = BigInt(randomBytes(2).readUInt16LE() % 700) - 350n;
      const counter = (((edge + offset) % MOD) + MOD) % MOD;
      const blocks = randomBytes(2).readUInt16LE() % 600;
      const key = randomBytes(32);
      const portableKey = Buffer.from(key);
      const out = Buffer.alloc(blocks * 16);
      native.generateBlocks(key, counter, out);
      const want = portable(portableKey, counter, blocks);
      assert.ok(out.equals(want), `output for counter ${counter} x ${blocks}`);
      assert.ok(key.equals(portableKey), `new key for counter ${counter} x ${blocks}`);
    }
  });

  test("writes only into out and key, never past them", () => {
    const memory = Buffer.alloc(32 + 16 * 3 + 16, 0xaa);
    const key = memory.subarray(0, 32);
    const out = memory.subarray(32, 32 + 48);
    native.generateBlocks(key, 9n, out);
    assert.ok(memory.subarray(80).every((b) => b === 0xaa), "the bytes after out are untouched");
  });

  test("refuses every bad argument with a clear error and leaves the key as it was", () => {
    const key = Buffer.alloc(32, 1);
    const out = Buffer.alloc(32);
    const shared = Buffer.alloc(64);
    const cases: [string, unknown[], RegExp][] = [
      ["no arguments", [], /three arguments/],
      ["a short key", [Buffer.alloc(31), 1n, out], /key must be a Uint8Array of 32 bytes/],
      ["a long key", [Buffer.alloc(33), 1n, out], /key must be a Uint8Array of 32 bytes/],
      ["a key that is not bytes", [new Uint16Array(16), 1n, out], /key must be a Uint8Array/],
      ["a number counter", [key, 1, out], /counter must be a bigint/],
      ["a negative counter", [key, -1n, out], /counter must be in \[0, 2\^128\)/],
      ["a counter of 2^128", [key, 2n ** 128n, out], /counter must be in \[0, 2\^128\)/],
      ["a part block", [key, 1n, Buffer.alloc(17)], /whole 16-byte blocks/],
      ["out that is not bytes", [key, 1n, new Uint32Array(8)], /whole 16-byte blocks/],
      ["out overlapping the key", [shared.subarray(0, 32), 1n, shared.subarray(16, 48)], /must not overlap key/],
    ];
    for (const [what, args, message] of cases) {
      const before = Buffer.from(key);
      const sharedBefore = Buffer.from(shared);
      assert.throws(() => (native.generateBlocks as (...a: unknown[]) => void)(...args), message, what);
      assert.ok(key.equals(before), `${what}: key untouched`);
      assert.ok(shared.equals(sharedBefore), `${what}: memory untouched`);
    }
  });
});
