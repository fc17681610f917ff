// Quota configuration read once at start: defaults, per-key limits from
// API_KEYS_FILE, and bad values stopping the gateway naming their variable.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, EnvReader } from "../../../runtime/src/index.js";
import { DEFAULT_LIMITS } from "../../src/quota/limits.js";
import { readQuotaConfig } from "../../src/quota/quotas.js";
import { ALICE, BOB, KEYS } from "./quota-keys.js";

describe("configuration", () => {
  const dir = mkdtempSync(join(tmpdir(), "lokey-quota-"));
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const fails = (env: Record<string, string>, variable: string, message?: RegExp) =>
    assert.throws(
      () => readQuotaConfig(new EnvReader(env)),
      (e: unknown) => e instanceof ConfigError && e.variable === variable && (!message || message.test(e.message)),
    );

  test("defaults, 0 = off, a burst defaulting to a minute's worth, per-key limits", () => {
    const d = readQuotaConfig(new EnvReader({}));
    assert.deepEqual(d.limits, DEFAULT_LIMITS);
    assert.equal(d.exemptLoopback, true);
    assert.equal(d.keys, undefined);
    const c = readQuotaConfig(
      new EnvReader({ QUOTA_FORTUNA_REQUESTS_PER_MIN: "0", QUOTA_TRNG_BYTES_PER_MIN: "1200", QUOTA_EXEMPT_LOOPBACK: "false", API_KEYS_FILE: file("keys", KEYS) }),
    );
    assert.equal(c.limits.fortuna.requests.perMinute, 0);
    assert.deepEqual(c.limits.trng.bytes, { perMinute: 1200, burst: 1200 });
    assert.equal(c.exemptLoopback, false);
    assert.equal(c.keys?.size, 2);
    assert.deepEqual(c.keys?.lookup(BOB)?.limits.trng.bytes, { perMinute: 600, burst: 200 });
    assert.deepEqual(c.keys?.lookup(ALICE)?.limits.trng.bytes, { perMinute: 1200, burst: 1200 });
    assert.equal(c.keys?.lookup(ALICE + " "), undefined);
  });

  test("bad values name their variable", () => {
    fails({ QUOTA_TRNG_BYTES_PER_MIN: "lots" }, "QUOTA_TRNG_BYTES_PER_MIN");
    fails({ QUOTA_FORTUNA_REQUESTS_PER_MIN: "-1" }, "QUOTA_FORTUNA_REQUESTS_PER_MIN");
    fails({ QUOTA_TRNG_REQUESTS_BURST: "0" }, "QUOTA_TRNG_REQUESTS_BURST");
    fails({ QUOTA_EXEMPT_LOOPBACK: "maybe" }, "QUOTA_EXEMPT_LOOPBACK");
    fails({ API_KEYS_FILE: join(dir, "missing") }, "API_KEYS_FILE", /cannot read/);
    fails({ API_KEYS_FILE: file("empty", "") }, "API_KEYS_FILE", /holds no API keys/);
    fails({ API_KEYS_FILE: file("comments", "# nobody yet\n\n") }, "API_KEYS_FILE", /holds no API keys/);
    fails({ API_KEYS_FILE: file("short", "carol:short\n") }, "API_KEYS_FILE", /line 1: a key is at least 16/);
    fails({ API_KEYS_FILE: file("dup", `a:${ALICE}\nb:${ALICE}\n`) }, "API_KEYS_FILE", /line 2: the same key as line 1/);
    fails({ API_KEYS_FILE: file("dupname", `a:${ALICE}\na:${BOB}\n`) }, "API_KEYS_FILE", /line 2: the name "a" is already used/);
    fails({ API_KEYS_FILE: file("setting", `a:${ALICE} trng_bits=5\n`) }, "API_KEYS_FILE", /unknown setting "trng_bits"/);
    fails({ API_KEYS_FILE: file("value", `a:${ALICE} trng_bytes_per_min=x\n`) }, "API_KEYS_FILE", /trng_bytes_per_min must be an integer/);
    // A key never appears in a message.
    assert.throws(() => readQuotaConfig(new EnvReader({ API_KEYS_FILE: file("nokey", "x:tiny-secret\n") })), (e: Error) => !e.message.includes("tiny-secret"));
  });

  test("the process refuses to start on an empty API_KEYS_FILE: exit code 2, naming the variable", async () => {
    const main = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", main], {
      cwd: fileURLToPath(new URL("../../..", import.meta.url)),
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DB_PATH: join(dir, "db"), API_KEYS_FILE: file("empty-for-main", "\n") },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let logs = "";
    child.stderr.on("data", (d: Buffer) => (logs += d.toString()));
    const [code] = await once(child, "exit");
    assert.equal(code, 2);
    assert.match(logs, /API_KEYS_FILE: holds no API keys/);
  });
});
