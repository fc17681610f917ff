// Bad security settings stop a service at start-up, naming the variable
// (docs/developing.md: configuration fails fast). The cheap cases call
// readSecurityConfig directly; representative ones start the real processes
// and expect exit code 2 with the variable in the JSON log on stderr.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, EnvReader, readSecurityConfig } from "../src/index.js";
import { peerFromRequest } from "../src/peer.js";
import type { NodeRequest } from "../src/index.js";
import { readGatewayEngineConfig } from "../../gateway/src/engine/config.js";
import { logLines, mains, makeCertSet, NO_REMOTE_CONNECTIONS, runToExit, type CertSet } from "./tls-helpers.js";

let pki: CertSet;
let dir: string;
const f: Record<string, string> = {};

before(() => {
  pki = makeCertSet("config");
  dir = mkdtempSync(join(tmpdir(), "lokey-security-config-"));
  const write = (name: string, text: string) => {
    f[name] = join(dir, name);
    writeFileSync(f[name], text);
  };
  write("garbage.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
  write("text.txt", "hello, not PEM at all\n");
  write("short-token", "abc123\n");
  write("good-token", "  0123456789abcdef0123456789abcdef \n");
  f.missing = join(dir, "does-not-exist.pem");
  f.dir = join(dir, "a-directory");
  mkdirSync(f.dir);
});

after(() => {
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const fortunaTls = () => ({ TLS_CERT_FILE: pki.paths("fortuna").cert, TLS_KEY_FILE: pki.paths("fortuna").key });

function refuses(env: Record<string, string>, variable: string, message: RegExp) {
  assert.throws(() => readSecurityConfig(new EnvReader(env)), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.variable, variable, err.message);
    assert.match(err.message, message);
    return true;
  });
}

describe("readSecurityConfig refuses, naming the variable", () => {
  const cases: [string, () => Record<string, string>, string, RegExp][] = [
    ["TLS_CERT_FILE is a missing file", () => ({ ...fortunaTls(), TLS_CERT_FILE: f.missing }), "TLS_CERT_FILE", /cannot read .*ENOENT/],
    ["TLS_CERT_FILE holds a PEM block that is not a certificate", () => ({ ...fortunaTls(), TLS_CERT_FILE: f["garbage.pem"] }), "TLS_CERT_FILE", /does not parse/],
    ["TLS_CERT_FILE holds no PEM at all", () => ({ ...fortunaTls(), TLS_CERT_FILE: f["text.txt"] }), "TLS_CERT_FILE", /no PEM certificate/],
    ["TLS_CERT_FILE is a private key", () => ({ ...fortunaTls(), TLS_CERT_FILE: pki.paths("fortuna").key }), "TLS_CERT_FILE", /no PEM certificate/],
    ["TLS_KEY_FILE belongs to another certificate", () => ({ ...fortunaTls(), TLS_KEY_FILE: pki.paths("gateway").key }), "TLS_KEY_FILE", /does not match the certificate in TLS_CERT_FILE/],
    ["TLS_KEY_FILE is not a key", () => ({ ...fortunaTls(), TLS_KEY_FILE: f["text.txt"] }), "TLS_KEY_FILE", /not a readable private key/],
    ["TLS_KEY_FILE without TLS_CERT_FILE", () => ({ TLS_KEY_FILE: pki.paths("fortuna").key }), "TLS_CERT_FILE", /must be set together with TLS_KEY_FILE/],
    ["TLS_CERT_FILE without TLS_KEY_FILE", () => ({ TLS_CERT_FILE: pki.paths("fortuna").cert }), "TLS_KEY_FILE", /must be set together with TLS_CERT_FILE/],
    ["TLS_CLIENT_CA_FILE is garbage", () => ({ ...fortunaTls(), TLS_CLIENT_CA_FILE: f["garbage.pem"] }), "TLS_CLIENT_CA_FILE", /does not parse/],
    ["TLS_CLIENT_CA_FILE is a directory", () => ({ ...fortunaTls(), TLS_CLIENT_CA_FILE: f.dir }), "TLS_CLIENT_CA_FILE", /cannot read .*EISDIR/],
    ["TLS_CLIENT_CA_FILE without a certificate of our own", () => ({ TLS_CLIENT_CA_FILE: pki.paths("fortuna").ca }), "TLS_CLIENT_CA_FILE", /needs TLS_CERT_FILE/],
    ["TLS_ALLOWED_CLIENTS without a client CA", () => ({ ...fortunaTls(), TLS_ALLOWED_CLIENTS: "gateway" }), "TLS_ALLOWED_CLIENTS", /needs TLS_CLIENT_CA_FILE/],
    ["TLS_ALLOWED_CLIENTS with an empty item", () => ({ ...fortunaTls(), TLS_CLIENT_CA_FILE: pki.paths("fortuna").ca, TLS_ALLOWED_CLIENTS: "gateway,," }), "TLS_ALLOWED_CLIENTS", /empty item/],
    ["ADMIN_TOKEN_FILE is a directory", () => ({ ADMIN_TOKEN_FILE: f.dir }), "ADMIN_TOKEN_FILE", /cannot read .*EISDIR/],
    ["ADMIN_TOKEN_FILE does not exist", () => ({ ADMIN_TOKEN_FILE: f.missing }), "ADMIN_TOKEN_FILE", /cannot read .*ENOENT/],
    ["ADMIN_TOKEN_FILE holds a short token", () => ({ ADMIN_TOKEN_FILE: f["short-token"] }), "ADMIN_TOKEN_FILE", /at least 16 characters/],
    ["ADMIN_TOKEN is too short", () => ({ ADMIN_TOKEN: "hunter2" }), "ADMIN_TOKEN", /at least 16 characters/],
    ["ADMIN_TOKEN has a space", () => ({ ADMIN_TOKEN: "0123456789 abcdef0123" }), "ADMIN_TOKEN", /printable ASCII without spaces/],
    ["ADMIN_TOKEN and ADMIN_TOKEN_FILE both", () => ({ ADMIN_TOKEN: "0123456789abcdef0123", ADMIN_TOKEN_FILE: f["good-token"] }), "ADMIN_TOKEN", /not both/],
  ];
  for (const proxies of ["not-an-ip", "10.0.0.0/33", "::1/129", "10.0.0.1/8/2", "10.0.0.0/", "10.0.0.0/x", "192.168.1", "10.0.0.1,,10.0.0.2"]) {
    cases.push([`TRUSTED_PROXIES=${proxies}`, () => ({ TRUSTED_PROXIES: proxies }), "TRUSTED_PROXIES", /must be IP addresses or CIDR ranges|empty item/]);
  }
  for (const [name, env, variable, message] of cases) test(name, () => refuses(env(), variable, message));

  test("a complete, valid configuration is read as given", () => {
    const c = readSecurityConfig(new EnvReader({
      ...fortunaTls(), TLS_CLIENT_CA_FILE: pki.paths("fortuna").ca, TLS_ALLOWED_CLIENTS: "gateway, controller",
      TRUSTED_PROXIES: "10.0.0.0/8, ::1", ADMIN_TOKEN_FILE: f["good-token"],
    }));
    assert.ok(c.tls?.cert.toString().includes("BEGIN CERTIFICATE") && c.tls.clientCa);
    assert.deepEqual(c.allowedClients, ["gateway", "controller"]);
    assert.equal(c.trustedProxies?.check("10.9.8.7", "ipv4"), true);
    assert.equal(c.trustedProxies?.check("11.0.0.1", "ipv4"), false);
    assert.equal(c.adminToken?.toString(), "0123456789abcdef0123456789abcdef");
    assert.deepEqual(readSecurityConfig(new EnvReader({})), { tls: undefined, allowedClients: [], trustedProxies: undefined, adminToken: undefined });
  });
});

// What TRUSTED_PROXIES lets X-Forwarded-For prove. Called directly: a test
// cannot portably open a socket from a non-loopback address, and that is the
// case that matters (a proxy elsewhere, or any host in a trusted range).
describe("TRUSTED_PROXIES and loopback callers", () => {
  const peer = (proxies: string, socket: string, xff?: string) => {
    const { trustedProxies } = readSecurityConfig(new EnvReader({ TRUSTED_PROXIES: proxies }));
    const req = { socket: { remoteAddress: socket }, headers: xff === undefined ? {} : { "x-forwarded-for": xff } } as unknown as NodeRequest;
    return peerFromRequest(req, trustedProxies);
  };

  test("127.0.0.1 forwarded by a proxy on another machine is that machine, not this one", () => {
    assert.deepEqual(peer("10.0.0.0/8", "10.0.0.5", "127.0.0.1"), { address: "127.0.0.1", loopback: false, certificate: "none" });
    assert.equal(peer("10.0.0.0/8", "::ffff:10.9.9.9", "::1").loopback, false);
    // Through a local proxy, but an earlier hop was elsewhere.
    assert.equal(peer("127.0.0.1, 10.0.0.0/8", "127.0.0.1", "127.0.0.2, 10.0.0.5").loopback, false);
  });

  test("the client behind trusted proxies is the first untrusted hop from the right; loopback only all the way", () => {
    assert.deepEqual(peer("127.0.0.1", "127.0.0.1", "127.0.0.1, 203.0.113.7"), { address: "203.0.113.7", loopback: false, certificate: "none" });
    assert.deepEqual(peer("127.0.0.1", "127.0.0.1", "127.0.0.2"), { address: "127.0.0.2", loopback: true, certificate: "none" });
    assert.deepEqual(peer("10.0.0.5", "127.0.0.1", "198.51.100.1"), { address: "127.0.0.1", loopback: false, certificate: "none" }, "an untrusted local relay");
    assert.deepEqual(peer("127.0.0.1", "127.0.0.1"), { address: "127.0.0.1", loopback: true, certificate: "none" });
  });
});

describe("the gateway's upstream settings", () => {
  const gatewayRefuses = (env: Record<string, string>, variable: string, message: RegExp) =>
    assert.throws(() => readGatewayEngineConfig(new EnvReader(env)), (err: unknown) => err instanceof ConfigError && err.variable === variable && message.test(err.message));

  test("an upstream off this machine needs UPSTREAM_CA_FILE", () => {
    gatewayRefuses({ CONTROLLER_ADDR: "10.1.2.3:8081" }, "CONTROLLER_ADDR", /not on this machine: set UPSTREAM_CA_FILE/);
    gatewayRefuses({ FORTUNA_ADDR: "127.0.0.1:8082,fortuna.internal:8082" }, "FORTUNA_ADDR", /fortuna\.internal:8082 is not on this machine/);
    gatewayRefuses({ UPSTREAM_CERT_FILE: pki.paths("gateway").cert, UPSTREAM_KEY_FILE: pki.paths("gateway").key }, "UPSTREAM_CA_FILE", /must be set with UPSTREAM_CERT_FILE/);
    gatewayRefuses({ UPSTREAM_CA_FILE: f["garbage.pem"] }, "UPSTREAM_CA_FILE", /does not parse/);
  });

  test("loopback upstreams need nothing; remote ones are accepted with the CA and our certificate", () => {
    for (const addr of ["127.0.0.1:8081", "localhost:8081", "[::1]:8081"]) {
      assert.equal(readGatewayEngineConfig(new EnvReader({ CONTROLLER_ADDR: addr })).upstreamTls, undefined);
    }
    const p = pki.paths("gateway");
    const cfg = readGatewayEngineConfig(new EnvReader({ CONTROLLER_ADDR: "10.1.2.3:8081", UPSTREAM_CA_FILE: p.ca, UPSTREAM_CERT_FILE: p.cert, UPSTREAM_KEY_FILE: p.key }));
    assert.ok(cfg.upstreamTls?.ca.equals(pki.ca) && cfg.upstreamTls.cert && cfg.upstreamTls.key);
  });
});

/** Asserts the process exited 2 and logged the ConfigError naming `variable` (JSON lines on stderr). */
function assertRefused(r: { code: number | null; stderr: string }, variable: string, message: RegExp) {
  assert.equal(r.code, 2, r.stderr);
  const line = logLines(r.stderr).find((l) => l.level === "error" && l.variable === variable);
  assert.ok(line, `no error line naming ${variable}:\n${r.stderr}`);
  assert.match(String(line.msg), new RegExp(`^invalid configuration: ${variable}: `));
  assert.match(String(line.msg), message);
  assert.doesNotMatch(r.stderr, /"msg":"listening"/);
}

describe("the real processes exit 2, naming the variable", { concurrency: 2 }, () => {
  const cases: [string, keyof typeof mains, () => Record<string, string>, string, RegExp][] = [
    ["fortuna: TLS_CERT_FILE missing", "fortuna", () => ({ ...fortunaTls(), TLS_CERT_FILE: f.missing }), "TLS_CERT_FILE", /ENOENT/],
    ["fortuna: TLS_KEY_FILE not matching", "fortuna", () => ({ ...fortunaTls(), TLS_KEY_FILE: pki.paths("controller").key }), "TLS_KEY_FILE", /does not match/],
    ["fortuna: TLS_CLIENT_CA_FILE garbage", "fortuna", () => ({ ...fortunaTls(), TLS_CLIENT_CA_FILE: f["garbage.pem"] }), "TLS_CLIENT_CA_FILE", /does not parse/],
    ["fortuna: ADMIN_TOKEN_FILE a directory", "fortuna", () => ({ ADMIN_TOKEN_FILE: f.dir }), "ADMIN_TOKEN_FILE", /EISDIR/],
    ["fortuna: TRUSTED_PROXIES malformed", "fortuna", () => ({ TRUSTED_PROXIES: "10.0.0.0/99" }), "TRUSTED_PROXIES", /10\.0\.0\.0\/99/],
    ["fortuna: HOST=0.0.0.0 without TLS", "fortuna", () => ({ HOST: "0.0.0.0" }), "HOST", /0\.0\.0\.0 is reachable from other machines.*TLS_CLIENT_CA_FILE/],
    ["fortuna: HOST=0.0.0.0 with TLS but no client CA", "fortuna", () => ({ ...fortunaTls(), HOST: "0.0.0.0" }), "HOST", /Seed/],
    ["controller: HOST=0.0.0.0 without a client CA", "controller", () => ({ HOST: "0.0.0.0", TRNG_DEVICE: "os" }), "HOST", /StreamSamples, Generate/],
  ];
  for (const [name, main, env, variable, message] of cases) {
    test(name, async () => assertRefused(await runToExit(mains[main], env()), variable, message));
  }

  test("gateway: CONTROLLER_ADDR=10.1.2.3:8081 without UPSTREAM_CA_FILE fails before opening anything or connecting", async () => {
    const dbPath = join(dir, "gateway-db");
    const attempts = join(dir, "remote-connections.log");
    writeFileSync(attempts, "");
    writeFileSync(join(dir, "no-remote.mjs"), NO_REMOTE_CONNECTIONS(attempts));
    const r = await runToExit(mains.gateway, { CONTROLLER_ADDR: "10.1.2.3:8081", DB_PATH: dbPath }, ["--import", join(dir, "no-remote.mjs")]);
    assertRefused(r, "CONTROLLER_ADDR", /10\.1\.2\.3:8081 is not on this machine/);
    assert.equal(readFileSync(attempts, "utf8"), "", "the gateway tried to connect off this machine");
    // The engine opens its database before it creates any upstream client.
    assert.equal(existsSync(dbPath), false, "the gateway opened its database");
    assert.doesNotMatch(r.stderr, /gateway engine started/);
  });
});
