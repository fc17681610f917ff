// `npm run certs` (scripts/certs.ts): a local CA and one certificate per
// service that openssl itself accepts, named for TLS_ALLOWED_CLIENTS (subject
// CN) and for the addresses the services are reached at (SANs), keys readable
// by their owner only, made once and remade only on --force.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { certPaths, ensureCerts, SERVICE_NAMES } from "../scripts/certs.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const ALL = ["ca.crt", "controller.crt", "fortuna.crt", "gateway.crt"];
// X.509 extended key usages (RFC 5280 §4.2.1.12): each service is a TLS server to some and a client to others.
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "lokey-certs-"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const read = (dir: string, name: string) => readFileSync(join(dir, name));
const snapshot = (dir: string) =>
  Object.fromEntries(["ca.key", ...ALL, ...SERVICE_NAMES.map((n) => `${n}.key`)].map((n) => [n, { bytes: read(dir, n), mtimeMs: statSync(join(dir, n)).mtimeMs }]));

function opensslVerify(dir: string, certs: string[]) {
  return spawnSync("openssl", ["verify", "-CAfile", join(dir, "ca.crt"), "-purpose", "sslserver", ...certs], { encoding: "utf8" });
}

describe("ensureCerts", () => {
  let dir: string;
  before(() => {
    dir = join(tmp, "nested", "certs"); // created, with its parents
  });

  test("makes a CA and three service certificates that openssl verify accepts", () => {
    assert.deepEqual(ensureCerts(dir), ALL);
    const r = opensslVerify(dir, SERVICE_NAMES.map((n) => certPaths(dir, n).cert));
    assert.equal(r.status, 0, r.stderr + r.stdout);
    for (const n of SERVICE_NAMES) assert.match(r.stdout, new RegExp(`${n}\\.crt: OK`));
    const ca = new X509Certificate(read(dir, "ca.crt"));
    assert.equal(ca.ca, true);
    assert.equal(ca.checkIssued(ca), true);
  });

  for (const name of SERVICE_NAMES) {
    test(`${name}: CN=${name}, SANs for its name, localhost, 127.0.0.1 and ::1, its own key`, () => {
      const cert = new X509Certificate(read(dir, `${name}.crt`));
      const ca = new X509Certificate(read(dir, "ca.crt"));
      assert.match(cert.subject, new RegExp(`^CN=${name}$`, "m"));
      assert.equal(cert.ca, false);
      assert.equal(cert.checkIssued(ca) && cert.verify(ca.publicKey), true);
      assert.equal(cert.checkHost(name), name);
      assert.equal(cert.checkHost("localhost"), "localhost");
      assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
      assert.equal(cert.checkIP("::1"), "::1");
      assert.equal(cert.checkHost("example.com"), undefined);
      for (const other of SERVICE_NAMES.filter((n) => n !== name)) assert.equal(cert.checkHost(other), undefined);
      assert.deepEqual([...(cert.keyUsage ?? [])].sort(), [SERVER_AUTH, CLIENT_AUTH].sort());
      assert.equal(cert.checkPrivateKey(createPrivateKey(read(dir, `${name}.key`))), true);
    });
  }

  test("keys are 0600 and the directory 0700", () => {
    for (const key of ["ca.key", ...SERVICE_NAMES.map((n) => `${n}.key`)]) {
      assert.equal((statSync(join(dir, key)).mode & 0o777).toString(8), "600", key);
    }
    assert.equal(statSync(dir).mode & 0o077, 0, `directory mode ${(statSync(dir).mode & 0o777).toString(8)}`);
  });

  test("a second run writes nothing", () => {
    const before = snapshot(dir);
    assert.deepEqual(ensureCerts(dir), []);
    assert.deepEqual(snapshot(dir), before);
  });

  test("a missing key remakes only that certificate, under the same CA", () => {
    const before = snapshot(dir);
    unlinkSync(join(dir, "fortuna.key"));
    assert.deepEqual(ensureCerts(dir), ["fortuna.crt"]);
    const after = snapshot(dir);
    assert.notDeepEqual(after["fortuna.crt"].bytes, before["fortuna.crt"].bytes);
    for (const n of ["ca.crt", "ca.key", "controller.crt", "gateway.crt"]) assert.deepEqual(after[n], before[n], n);
    assert.equal(opensslVerify(dir, [join(dir, "fortuna.crt")]).status, 0);
  });

  test("force: a new CA and new certificates; the old ones no longer verify", () => {
    const oldController = join(tmp, "old-controller.crt");
    copyFileSync(join(dir, "controller.crt"), oldController);
    const before = snapshot(dir);
    assert.deepEqual(ensureCerts(dir, { force: true }), ALL);
    const after = snapshot(dir);
    for (const n of [...ALL, "ca.key"]) assert.notDeepEqual(after[n].bytes, before[n].bytes, n);
    assert.equal(opensslVerify(dir, SERVICE_NAMES.map((n) => join(dir, `${n}.crt`))).status, 0);
    assert.notEqual(opensslVerify(dir, [oldController]).status, 0);
  });
});

describe("npm run certs", () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "scripts/certs.ts", ...args], { cwd: root, encoding: "utf8" });

  test("writes what is missing, then nothing, and everything anew with --force", () => {
    const dir = join(tmp, "cli");
    const first = cli(dir);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /wrote ca\.crt, controller\.crt, fortuna\.crt, gateway\.crt under /);
    const ca = read(dir, "ca.crt");
    const again = cli(dir);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /are complete; --force makes new ones/);
    assert.deepEqual(read(dir, "ca.crt"), ca);
    const forced = cli(dir, "--force");
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout, /wrote ca\.crt, controller\.crt, fortuna\.crt, gateway\.crt/);
    assert.notDeepEqual(read(dir, "ca.crt"), ca);
  });
});
