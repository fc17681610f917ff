// The compose file as docker-compose resolves it: only the gateway is
// published, the upstreams sit on an internal network and speak mutual TLS
// with certificates from the one-shot `certs` service (docs/security.md).
// Needs Debian's docker-compose (it validates offline and brings PyYAML).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

interface ComposeService {
  devices?: string[];
  group_add?: (string | number)[];
  mem_limit?: string | number;
  logging?: { driver: string; options?: Record<string, string> };
  ports?: unknown[];
  networks?: Record<string, unknown>;
  environment?: Record<string, string>;
  volumes?: (string | { source?: string; target: string; read_only?: boolean })[];
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, ComposeService>;
  networks: Record<string, { internal?: boolean }>;
}

/** A volume entry in either syntax, as { source, target, readOnly }. */
function mount(v: string | { source?: string; target: string; read_only?: boolean }) {
  if (typeof v !== "string") return { source: v.source, target: v.target, readOnly: v.read_only === true };
  const [source, target, mode] = v.split(":");
  return { source, target, readOnly: mode === "ro" };
}

const mountsCerts = (s: ComposeService, readOnly: boolean) =>
  s.volumes?.map(mount).some((v) => v.source === "certs" && v.target === "/certs" && v.readOnly === readOnly) ?? false;

function resolved(...overrides: string[]): Compose | string {
  const files = ["docker-compose.yml", ...overrides].flatMap((f) => ["-f", f]);
  const config = spawnSync("docker-compose", [...files, "config"], { encoding: "utf8", env: { ...process.env, I2C_GID: "4242" } });
  if (config.error) return "docker-compose is not installed (Debian package docker-compose)";
  assert.equal(config.status, 0, config.stderr);
  const json = spawnSync("python3", ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"], { input: config.stdout, encoding: "utf8" });
  if (json.status !== 0) return `no PyYAML to read docker-compose's output: ${json.stderr}`;
  return JSON.parse(json.stdout) as Compose;
}

test("docker-compose.yml: only the gateway is reachable, upstreams answer it over mutual TLS", (t) => {
  const c = resolved();
  if (typeof c === "string") return t.skip(c);
  const { controller, fortuna, gateway, certs } = c.services;
  assert.deepEqual(Object.keys(c.services).sort(), ["certs", "controller", "fortuna", "gateway"]);
  for (const [name, s] of Object.entries(c.services)) if (name !== "gateway") assert.equal(s.ports, undefined, `${name} publishes no port`);
  assert.equal(gateway.ports?.length, 1);
  assert.equal(c.networks.upstream.internal, true);
  for (const [name, s] of [["controller", controller], ["fortuna", fortuna]] as const) {
    assert.deepEqual(Object.keys(s.networks ?? {}), ["upstream"], `${name} only on the internal network`);
    const env = s.environment ?? {};
    assert.equal(env.TLS_CERT_FILE, `/certs/${name}.crt`);
    assert.equal(env.TLS_KEY_FILE, `/certs/${name}.key`);
    assert.equal(env.TLS_CLIENT_CA_FILE, "/certs/ca.crt");
    assert.equal(env.TLS_ALLOWED_CLIENTS, "gateway");
    assert.ok(mountsCerts(s, true), `${name} mounts certs read-only`);
    assert.equal(s.depends_on?.certs.condition, "service_completed_successfully");
  }
  const env = gateway.environment ?? {};
  assert.equal(env.UPSTREAM_CA_FILE, "/certs/ca.crt");
  assert.equal(env.UPSTREAM_CERT_FILE, "/certs/gateway.crt");
  assert.equal(env.UPSTREAM_KEY_FILE, "/certs/gateway.key");
  assert.ok(mountsCerts(certs, false), "certs writes the volume");
  assert.ok(mountsCerts(gateway, true), "gateway mounts certs read-only");
});

test("docker-compose.yml needs no chip; docker-compose.chip.yml adds the device with the configured i2c group", (t) => {
  const base = resolved();
  if (typeof base === "string") return t.skip(base);
  for (const [name, s] of Object.entries(base.services)) {
    assert.equal(s.devices, undefined, `${name} needs no device`);
    assert.equal(s.logging?.driver, "json-file", `${name} logs rotate`);
    assert.ok(s.logging?.options?.["max-size"] && s.logging.options["max-file"], `${name} log size bounded`);
    if (name !== "certs") assert.ok(s.mem_limit, `${name} has a memory limit`);
  }
  const chip = resolved("docker-compose.chip.yml");
  if (typeof chip === "string") return t.skip(chip);
  const c = chip.services.controller;
  assert.deepEqual(c.devices, ["/dev/i2c-1:/dev/i2c-1"]);
  assert.deepEqual(c.group_add?.map(String), ["4242"]);
  assert.equal(c.environment?.TRNG_REQUIRE_HARDWARE, "true");
  for (const name of ["fortuna", "gateway"]) assert.equal(chip.services[name].devices, undefined);
});
