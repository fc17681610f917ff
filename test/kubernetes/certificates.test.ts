// The certificates the README makes: each upstream's names the gateway dials,
// and only its own; names added later remake only what lacks them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseFileDocs, envOf, readmeCertsCommand, readmeSecrets, root, workloads } from "./manifests.js";

describe("certificates", () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "lokey-k8s-certs-"));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "scripts/certs.ts", ...args], { cwd: root, encoding: "utf8" });

  test("the README's `npm run certs` gives each upstream the name the gateway dials, and only its own", () => {
    const { dir, hosts } = readmeCertsCommand();
    const out = join(tmp, "readme");
    const r = cli(out, ...hosts.flatMap(([s, h]) => ["--host", `${s}=${h}`]));
    assert.equal(r.status, 0, r.stderr);
    const env = envOf(workloads(baseFileDocs).get("gateway")!.container);
    const dialed = { controller: env.CONTROLLER_ADDR, fortuna: env.FORTUNA_ADDR };
    for (const [service, address] of Object.entries(dialed)) {
      const host = /^dns:\/\/\/([^:]+):\d+$/.exec(address)![1];
      const own = new X509Certificate(readFileSync(join(out, `${service}.crt`)));
      assert.equal(own.checkHost(host, { subject: "never" }), host, `${service}.crt names ${host}`);
      assert.match(own.subject, new RegExp(`^CN=${service}$`, "m"));
      for (const other of ["controller", "fortuna", "gateway"].filter((s) => s !== service)) {
        const cert = new X509Certificate(readFileSync(join(out, `${other}.crt`)));
        assert.equal(cert.checkHost(host, { subject: "never" }), undefined, `${other}.crt must not name ${host}`);
      }
    }
    // The README's Secrets take their files from the directory it makes.
    for (const [secret, keys] of readmeSecrets()) {
      for (const [key, path] of keys) {
        assert.ok(path.startsWith(`${dir}/`), `${secret}/${key} from ${path}`);
        if (secret.endsWith("-tls")) assert.ok(existsSync(join(out, path.slice(dir.length + 1))), `${path} is among what npm run certs makes`);
      }
    }
  });

  test("--host: names added later make only the certificates lacking them again, under the same CA", () => {
    const dir = join(tmp, "later");
    assert.equal(cli(dir).status, 0);
    const before = Object.fromEntries(["ca.crt", "ca.key", "controller.crt", "fortuna.crt", "gateway.crt"].map((f) => [f, readFileSync(join(dir, f))]));
    const r = cli(dir, "--host", "fortuna=lokey-fortuna.example.svc.cluster.local", "--host=shared.example");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /controller\.crt \(shared\.example\), fortuna\.crt \(shared\.example, lokey-fortuna\.example\.svc\.cluster\.local\), gateway\.crt \(shared\.example\)/);
    for (const f of ["ca.crt", "ca.key"]) assert.deepEqual(readFileSync(join(dir, f)), before[f], `${f} kept`);
    const ca = new X509Certificate(before["ca.crt"]);
    for (const s of ["controller", "fortuna", "gateway"]) {
      const cert = new X509Certificate(readFileSync(join(dir, `${s}.crt`)));
      assert.ok(cert.verify(ca.publicKey), `${s}.crt signed by the same CA`);
      assert.equal(cert.checkHost("shared.example", { subject: "never" }), "shared.example");
      assert.equal(cert.checkHost("localhost", { subject: "never" }), "localhost", `${s}.crt keeps its usual names`);
      assert.equal(statSync(join(dir, `${s}.key`)).mode & 0o777, 0o600);
      // The key was replaced along with the certificate.
      assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(join(dir, `${s}.key`)))), `${s}.key belongs to ${s}.crt`);
    }
    assert.equal(new X509Certificate(readFileSync(join(dir, "fortuna.crt"))).checkHost("lokey-fortuna.example.svc.cluster.local", { subject: "never" }), "lokey-fortuna.example.svc.cluster.local");
    assert.equal(new X509Certificate(readFileSync(join(dir, "controller.crt"))).checkHost("lokey-fortuna.example.svc.cluster.local", { subject: "never" }), undefined);
    // Asked again, nothing lacks a name: nothing is made.
    const again = cli(dir, "--host", "fortuna=lokey-fortuna.example.svc.cluster.local", "--host=shared.example");
    assert.match(again.stdout, /are complete/);
    for (const bad of [["--host", "nobody=x.example"], ["--host", "not a name"], ["--hots", "x"]]) {
      const refused = cli(dir, ...bad);
      assert.equal(refused.status, 1, bad.join(" "));
      assert.match(refused.stderr, /host|option/);
    }
  });
});
