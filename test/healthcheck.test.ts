// The Dockerfile's HEALTHCHECK runs scripts/healthcheck.mjs: a real gRPC
// health Check against the service's own port, plain or TLS, exit 0 only
// when SERVING. Fortuna is a good subject: NOT_SERVING until seeded.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { freePort } from "../runtime/test/net.js";
import { makeCertSet, mains, root, startProcess, type RunningProcess } from "../runtime/test/tls-helpers.js";

const running: RunningProcess[] = [];
const certs = makeCertSet("healthcheck");
after(async () => {
  for (const p of running) await p.stop();
  certs.remove();
});

function probe(port: number, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["scripts/healthcheck.mjs"], { cwd: root, env: { ...process.env, PORT: String(port), TLS_CERT_FILE: "", ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

test("the Dockerfile's HEALTHCHECK runs the probe the image carries", () => {
  const dockerfile = readFileSync("Dockerfile", "utf8");
  assert.match(dockerfile, /^HEALTHCHECK .*CMD \["node", "scripts\/healthcheck\.mjs"\]$/m);
  assert.match(dockerfile, /^COPY scripts\/healthcheck\.mjs /m);
});

test("plain port: exit 1 while Fortuna is not serving (unseeded), 0 once it is", async () => {
  const unseeded = await startProcess(mains.fortuna, {});
  running.push(unseeded);
  const down = probe(unseeded.port);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /status 2/); // NOT_SERVING
  const seeded = await startProcess(mains.fortuna, { FORTUNA_SEED_FROM_OS: "true" });
  running.push(seeded);
  assert.deepEqual(probe(seeded.port), { code: 0, stderr: "" });
});

test("TLS port with client certificates required for service methods: health answers without one", async () => {
  const p = certs.paths("fortuna");
  const tls = await startProcess(mains.fortuna, { FORTUNA_SEED_FROM_OS: "true", TLS_CERT_FILE: p.cert, TLS_KEY_FILE: p.key, TLS_CLIENT_CA_FILE: p.ca });
  running.push(tls);
  assert.equal(probe(tls.port, { TLS_CERT_FILE: p.cert }).code, 0);
  // Spoken in the wrong protocol, the probe fails rather than passing by accident.
  assert.equal(probe(tls.port).code, 1);
});

test("nobody listening: exit 1", async () => {
  const r = probe(await freePort());
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ECONNREFUSED/);
});
