// The real process: starts unseeded on the port it is given, refuses output
// until seeded over gRPC, and stops cleanly on SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient } from "../../runtime/src/index.js";

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

test("fortuna/src/main.ts serves on PORT, seeded only from outside, and exits 0 on SIGTERM", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    cwd: root,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    let logs = "";
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        logs += d.toString();
        const m = /"msg":"listening","port":(\d+)/.exec(logs);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`exited with ${code}: ${logs}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/generate?size=4`)).status, 503);
    const client = createGrpcClient(FortunaService, `127.0.0.1:${port}`);
    try {
      assert.equal((await client.seed({ seeds: [new Uint8Array(32).fill(7)] })).status, "reseeded");
    } finally {
      client.close();
    }
    const res = await fetch(`${base}/generate?size=4`);
    assert.equal(res.status, 200);
    assert.match(((await res.json()) as { data: string }).data, /^[0-9a-f]{8}$/);
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test("a bad setting stops the process with exit code 2, naming the variable", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    cwd: root,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", FORTUNA_MAX_SEED_AGE_MS: "forever" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let logs = "";
  child.stderr.on("data", (d: Buffer) => (logs += d.toString()));
  const [code] = await once(child, "exit");
  assert.equal(code, 2);
  assert.match(logs, /FORTUNA_MAX_SEED_AGE_MS/);
});
