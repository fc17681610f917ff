// The real process: starts unseeded on the port it is given, refuses output
// until seeded over gRPC, and stops cleanly on SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient } from "../../runtime/src/index.js";
import { makeCertSet } from "../../runtime/test/tls-helpers.js";

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

/** Starts main.ts with `env` and resolves with its port once it listens. */
function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    cwd: root,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let logs = "";
  const port = new Promise<number>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      logs += d.toString();
      const m = /"msg":"listening","port":(\d+)/.exec(logs);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code}: ${logs}`)));
  });
  return { child, port, logs: () => logs };
}

test("fortuna/src/main.ts serves on PORT, seeded only from outside, and exits 0 on SIGTERM", async () => {
  const { child, port: listening } = startMain({});
  try {
    const port = await listening;
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/generate?size=4`)).status, 503);
    const client = createGrpcClient(FortunaService, `127.0.0.1:${port}`);
    try {
      assert.equal((await client.seed({ seeds: [new Uint8Array(64).fill(7)] })).status, "reseeded");
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

test("with TLS_CLIENT_CA_FILE: the gateway's certificate seeds, and pool 0's fill is hidden from a caller without one", async () => {
  const pki = makeCertSet("main");
  const files = pki.paths("fortuna");
  const { child, port: listening, logs } = startMain({ TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key, TLS_CLIENT_CA_FILE: files.ca, TLS_ALLOWED_CLIENTS: "gateway" });
  const clients: { close(): void }[] = [];
  try {
    const address = `127.0.0.1:${await listening}`;
    const gateway = createGrpcClient(FortunaService, address, { tls: pki.creds("gateway") });
    const stranger = createGrpcClient(FortunaService, address, { tls: { ca: pki.ca } });
    clients.push(gateway, stranger);
    assert.match(logs(), /"tls":true,"clientCertificates":true/);
    assert.equal((await gateway.seed({ seeds: Array.from({ length: 5 }, (_, i) => new Uint8Array(32).fill(i)) })).status, "reseeded");
    assert.equal((await gateway.seed({ seeds: [new Uint8Array(32).fill(9)] })).status, "pooled");
    assert.equal((await gateway.getInfo({})).pool0Bytes, 34n);
    const info = await stranger.getInfo({});
    assert.equal(info.seeded, true);
    assert.equal(info.pool0Bytes, 0n);
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
  } finally {
    for (const c of clients) c.close();
    if (child.exitCode === null) child.kill("SIGKILL");
    pki.remove();
  }
});
