// The probes, for real: Fortuna started with the manifest's own environment
// (its Secrets' files made by the README's command) answers them as the
// manifest expects, unseeded and seeded.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCertSet, startProcess, type CertSet, type RunningProcess } from "../../runtime/test/tls-helpers.js";
import { baseFileDocs, localEnv, root, workloads, type Probe } from "./manifests.js";

/** Runs a probe's exec command as the kubelet would, with /app being this checkout. */
function execProbe(probe: Probe, env: Record<string, string>) {
  const [cmd, ...args] = probe.exec!.command;
  assert.equal(cmd, "node");
  const r = spawnSync(process.execPath, args.map((a) => a.replace(/^\/app\//, `${root}/`)), { cwd: root, env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

const tcpAccepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });

describe("Fortuna's probes against a Fortuna started with the manifest's environment", () => {
  const running: RunningProcess[] = [];
  let certs: CertSet;
  let dir: string;
  before(() => {
    certs = makeCertSet("k8s-probes");
    dir = mkdtempSync(join(tmpdir(), "lokey-k8s-probes-"));
  });
  after(async () => {
    for (const p of running) await p.stop();
    certs.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test("unseeded: alive (TCP) but not ready (NOT_SERVING over TLS); seeded: ready", async () => {
    const w = workloads(baseFileDocs).get("fortuna")!;
    const env = localEnv(w, certs, dir);
    // The container runs the compiled main's bundle (dist/app/…/main.bundle.js, which
    // the image builds); here its source runs, which is what the build bundles.
    const main = join(root, w.container.command![3].replace(/^dist\/app\//, "").replace(/\.bundle\.js$/, ".ts"));
    const unseeded = await startProcess(main, env);
    running.push(unseeded);
    const probeEnv = { ...env, PORT: String(unseeded.port) };
    assert.equal(await tcpAccepts(unseeded.port), true, "liveness and startup: the port accepts");
    const ready = execProbe(w.container.readinessProbe!, probeEnv);
    assert.equal(ready.code, 1);
    assert.match(ready.stderr, /status 2/); // NOT_SERVING, answered over TLS
    const seeded = await startProcess(main, { ...env, FORTUNA_SEED_FROM_OS: "true" });
    running.push(seeded);
    assert.deepEqual(execProbe(w.container.readinessProbe!, { ...env, PORT: String(seeded.port) }), { code: 0, stderr: "" });
  });
});
