// dns:/// upstreams, as a Kubernetes headless Service presents them: every
// address behind the name is an upstream of its own; addresses that appear
// are picked up and those that go are dropped (a dropped chip stays listed as
// gone); over TLS each is checked against the name, not its bare address.
// The name is answered by an injected lookup; the upstreams are real servers
// on loopback addresses 127.0.0.1..3 sharing one port, as pods share a
// Service's port.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EnvReader, readSecurityConfig, silentLogger } from "../../../runtime/src/index.js";
import { certPaths, ensureCerts } from "../../../scripts/certs.js";
import { openGatewayEngine } from "../../src/engine/engine.js";
import type { Lookup } from "../../src/engine/resolver.js";
import type { GatewayEngine } from "../../src/engine/types.js";
import { FakeController, FakeFortuna, testConfig, until } from "./fakes.js";
import { tempDir } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const BOUND_MS = 15_000;
const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

/** A lookup whose answer the test sets. */
function dnsServer(): { lookup: Lookup; answer: string[] } {
  const dns: { lookup: Lookup; answer: string[] } = { answer: [], lookup: async () => dns.answer };
  return dns;
}

async function controllersOnePort(security?: Parameters<FakeController["start"]>[2]): Promise<FakeController[]> {
  const out: FakeController[] = [];
  for (const [i, host] of HOSTS.entries()) {
    const c = new FakeController();
    c.serial = `012300000000000${i + 1}ee`;
    c.intervalMs = 5;
    await c.start(out[0]?.server.port ?? 0, host, security);
    cleanups.push(() => c.server.close());
    out.push(c);
  }
  return out;
}

async function engineWith(over: Parameters<typeof testConfig>[3], lookup: Lookup, controllers: string, fortunas: string[]): Promise<GatewayEngine> {
  const dir = tempDir("dns");
  cleanups.push(() => dir.remove());
  const engine = await openGatewayEngine(testConfig(join(dir.path, "db"), controllers, fortunas, { trngQueueSize: 1_000_000, ...over }), silentLogger, { lookup, dnsRefreshMs: 20 });
  cleanups.push(() => engine.close());
  return engine;
}

const chipsOf = async (engine: GatewayEngine) => (await engine.status()).chips.map((c) => `${c.serialNumber}@${c.address}:${c.connected ? "up" : "gone"}`).sort();

describe("dns:/// upstreams", () => {
  test("controllers behind a name: added and dropped as the name's addresses change; a dropped chip is listed as gone", async () => {
    const controllers = await controllersOnePort();
    const port = controllers[0].server.port;
    const fortuna = await new FakeFortuna().start();
    cleanups.push(() => fortuna.server.close());
    const dns = dnsServer();
    dns.answer = HOSTS.slice(0, 2);
    const engine = await engineWith({}, dns.lookup, `dns:///chips.test:${port}`, [fortuna.addr]);
    const up = (i: number) => `${controllers[i].serial}@${HOSTS[i]}:${port}:up`;

    await until("two chips", async () => (await chipsOf(engine)).join() === [up(0), up(1)].join(), BOUND_MS);
    dns.answer = HOSTS;
    await until("the third picked up", async () => (await chipsOf(engine)).join() === [up(0), up(1), up(2)].join(), BOUND_MS);
    await until("the third feeding", async () => (await engine.status()).chips[2].samplesDelivered > 0n, BOUND_MS);

    dns.answer = [HOSTS[0], HOSTS[2]];
    await until("the second dropped", async () => (await chipsOf(engine)).join() === [up(0), `${controllers[1].serial}@${HOSTS[1]}:${port}:gone`, up(2)].join(), BOUND_MS);
    const gone = (await engine.status()).chips.find((c) => c.serialNumber === controllers[1].serial)!;
    assert.equal(gone.lastError, `no longer among the addresses of dns:///chips.test:${port}`);
    assert.equal(gone.target, `dns:///chips.test:${port}`);
    assert.ok(gone.samplesDelivered > 0n, "what it delivered stays counted");
    assert.match(await engine.metrics.metrics(), new RegExp(`^trng_chip_connected\\{serial="${controllers[1].serial}",address="${HOSTS[1]}:${port}"\\} 0$`, "m"));

    // Back again: listed once, as it is now.
    dns.answer = HOSTS;
    await until("the second back", async () => (await chipsOf(engine)).join() === [up(0), up(1), up(2)].join(), BOUND_MS);
    // No address at all (a Service without ready pods): every chip listed as gone.
    dns.answer = [];
    await until("all gone", async () => (await chipsOf(engine)).every((c) => c.endsWith(":gone")) && !engine.health().controller, BOUND_MS);
  });

  test("Fortuna instances behind a name: each is seeded, a new one at once", async () => {
    const [controller] = await controllersOnePort();
    const fortunas: FakeFortuna[] = [];
    for (const host of HOSTS) {
      const f = await new FakeFortuna().start(fortunas[0]?.server.port ?? 0, host);
      cleanups.push(() => f.server.close());
      fortunas.push(f);
    }
    const port = fortunas[0].server.port;
    const dns = dnsServer();
    dns.answer = HOSTS.slice(0, 2);
    // A long interval: only a new instance's own seeding can seed the third in time.
    const engine = await engineWith({ reseedIntervalMs: 3_600_000 }, dns.lookup, controller.addr, [`dns:///fortuna.test:${port}`]);
    const seeded = async () => (await engine.status()).fortunaInstances.filter((f) => f.seeded).map((f) => f.address).join();
    await until("two seeded", async () => (await seeded()) === `${HOSTS[0]}:${port},${HOSTS[1]}:${port}`, BOUND_MS);
    assert.equal(engine.health().seeded, true);
    dns.answer = HOSTS;
    await until("the third seeded", async () => (await seeded()).split(",").length === 3, BOUND_MS);
    // Once each: the others were not seeded again for it.
    assert.deepEqual(fortunas.map((f) => f.seeds.length), [1, 1, 1]);
    // Each instance got its own samples.
    assert.equal(new Set(fortunas.flatMap((f) => f.seeds.flat())).size, 3 * fortunas[0].seeds[0].length);
    await until("data from them", async () => (await engine.status()).fortuna.connected && fortunas.some((f) => f.chunks > 0), BOUND_MS);
  });

  test("over TLS each address is checked against the name: a certificate without it is refused, though it names the address", async () => {
    const dirs = { without: mkdtempSync(join(tmpdir(), "lokey-dns-certs-")), with: mkdtempSync(join(tmpdir(), "lokey-dns-certs-")) };
    cleanups.push(() => Object.values(dirs).forEach((d) => rmSync(d, { recursive: true, force: true })));
    ensureCerts(dirs.without);
    ensureCerts(dirs.with, { extraHosts: ["chips.test"] });
    const fortuna = await new FakeFortuna().start();
    cleanups.push(() => fortuna.server.close());
    const dns = dnsServer();
    dns.answer = ["127.0.0.1"];
    for (const [which, dir] of Object.entries(dirs)) {
      const p = certPaths(dir, "controller");
      const security = readSecurityConfig(new EnvReader({ TLS_CERT_FILE: p.cert, TLS_KEY_FILE: p.key, TLS_CLIENT_CA_FILE: p.ca }));
      const c = new FakeController();
      c.serial = "0123000000000009ee";
      await c.start(0, "127.0.0.1", security);
      cleanups.push(() => c.server.close());
      const gw = certPaths(dir, "gateway");
      const upstreamTls = { ca: readFileSync(gw.ca), cert: readFileSync(gw.cert), key: readFileSync(gw.key) };
      const engine = await engineWith({ upstreamTls }, dns.lookup, `dns:///chips.test:${c.server.port}`, [fortuna.addr]);
      if (which === "with") {
        await until("streaming over TLS", async () => (await engine.status()).chips[0]?.connected === true, BOUND_MS);
      } else {
        await until("refused", async () => /chips\.test|altnames|certificate/i.test((await engine.status()).chips[0]?.lastError ?? ""), BOUND_MS);
        assert.equal(c.streamed, 0);
      }
    }
  });
});

