// CONTROLLER_ADDR and FORTUNA_ADDR: lists of host:port and dns:///name:port,
// validated at start-up with the variable named, and dns:/// names resolved
// to one upstream per address, looked up again as they change.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError, EnvReader, silentLogger } from "../../../runtime/src/index.js";
import { readGatewayEngineConfig } from "../../src/engine/config.js";
import { parseUpstreams, resolveEndpoints, watchEndpoints, type Lookup } from "../../src/engine/resolver.js";

const named = (variable: string, pattern: RegExp) => (e: unknown) => e instanceof ConfigError && e.variable === variable && pattern.test(e.message);

describe("upstream addresses", () => {
  test("host:port (http:// accepted, as before), [IPv6]:port and dns:///name:port, in comma-separated lists", () => {
    const specs = parseUpstreams("CONTROLLER_ADDR", ["http://10.0.0.5:8081/", "controller-2:8081", "[fd00::7]:8081", "dns:///lokey-controller.lokey.svc.cluster.local:8081"]);
    assert.deepEqual(specs.map((s) => [s.spec, s.host, s.port, s.dns]), [
      ["10.0.0.5:8081", "10.0.0.5", 8081, false],
      ["controller-2:8081", "controller-2", 8081, false],
      ["[fd00::7]:8081", "fd00::7", 8081, false],
      ["dns:///lokey-controller.lokey.svc.cluster.local:8081", "lokey-controller.lokey.svc.cluster.local", 8081, true],
    ]);
    // The environment's spelling: one value, commas between entries.
    const cfg = readGatewayEngineConfig(new EnvReader({ CONTROLLER_ADDR: "127.0.0.1:9001, 127.0.0.1:9002,dns:///localhost:9003", FORTUNA_ADDR: "dns:///localhost:9004" }));
    assert.deepEqual(cfg.controllers.map((c) => c.spec), ["127.0.0.1:9001", "127.0.0.1:9002", "dns:///localhost:9003"]);
    assert.deepEqual(cfg.fortunas.map((f) => [f.spec, f.dns]), [["dns:///localhost:9004", true]]);
  });

  test("bad entries stop start-up naming the variable", () => {
    for (const [variable, value, why] of [
      ["CONTROLLER_ADDR", "nohost", /host:port or dns:\/\/\/name:port/],
      ["CONTROLLER_ADDR", "a:1,,b:2", /empty item/],
      ["CONTROLLER_ADDR", "a:99999", /host:port/],
      ["CONTROLLER_ADDR", "dns://8.8.8.8/controller:8081", /DNS server of its own/],
      ["CONTROLLER_ADDR", "dns:///controller", /dns:\/\/\/name:port/],
      ["FORTUNA_ADDR", "dns:///10.0.0.1:8082", /takes a name; write an address as 10.0.0.1:8082/],
      ["FORTUNA_ADDR", "127.0.0.1:8082,http://127.0.0.1:8082", /lists 127.0.0.1:8082 twice/],
      // Off this machine, mutual TLS or nothing: a dns:/// name is off this machine unless it is localhost.
      ["CONTROLLER_ADDR", "dns:///lokey-controller:8081", /not on this machine: set UPSTREAM_CA_FILE/],
    ] as const) {
      assert.throws(() => readGatewayEngineConfig(new EnvReader({ [variable]: value })), named(variable, why), `${variable}=${value}`);
    }
  });
});

describe("resolving dns:/// names", () => {
  const specs = parseUpstreams("CONTROLLER_ADDR", ["dns:///chips.test:8081", "127.0.0.1:9000"]);
  const err = (code: string) => Object.assign(new Error(code), { code });

  test("every address behind the name is an upstream checked against the name; a name with none has none", async () => {
    const lookup: Lookup = async () => ["10.0.0.1", "10.0.0.2", "fd00::3", "10.0.0.1"];
    const got = await resolveEndpoints(specs, lookup, [], silentLogger);
    assert.deepEqual(got, [
      { address: "10.0.0.1:8081", spec: "dns:///chips.test:8081", serverName: "chips.test" },
      { address: "10.0.0.2:8081", spec: "dns:///chips.test:8081", serverName: "chips.test" },
      { address: "[fd00::3]:8081", spec: "dns:///chips.test:8081", serverName: "chips.test" },
      // A host:port entry is dialled as written; its certificate is checked as before.
      { address: "127.0.0.1:9000", spec: "127.0.0.1:9000" },
    ]);
    // NXDOMAIN (a headless Service without ready pods): no upstreams behind it.
    const none = await resolveEndpoints(specs, async () => Promise.reject(err("ENOTFOUND")), got, silentLogger);
    assert.deepEqual(none.map((e) => e.address), ["127.0.0.1:9000"]);
    // The DNS server not answering: the last addresses stay (their liveness watch decides).
    const kept = await resolveEndpoints(specs, async () => Promise.reject(err("ETIMEOUT")), got, silentLogger);
    assert.deepEqual(kept, got);
  });

  test("a name is looked up again, and each change is announced once", async () => {
    let answer = ["10.0.0.1"];
    let lookups = 0;
    const lookup: Lookup = async () => {
      lookups++;
      return answer;
    };
    const stop = new AbortController();
    const watch = watchEndpoints(specs.slice(0, 1), stop.signal, silentLogger, lookup, 10);
    try {
      await watch.ready;
      assert.deepEqual(watch.current().map((e) => e.address), ["10.0.0.1:8081"]);
      const changed = watch.changed.wait(stop.signal);
      answer = ["10.0.0.2", "10.0.0.1"];
      await changed;
      assert.deepEqual(watch.current().map((e) => e.address).sort(), ["10.0.0.1:8081", "10.0.0.2:8081"]);
      // The same set in another order is no change.
      let fired = false;
      void watch.changed.wait(stop.signal).then(() => (fired = true), () => undefined);
      answer = ["10.0.0.1", "10.0.0.2"];
      const seen = lookups;
      for (let i = 0; i < 200 && lookups < seen + 3; i++) await sleep(10);
      assert.ok(lookups >= seen + 3, "looked up again");
      assert.equal(fired, false);
    } finally {
      stop.abort();
      await watch.done;
    }
  });

  test("entries without a name are resolved once, never looked up", async () => {
    const stop = new AbortController();
    const watch = watchEndpoints(specs.slice(1), stop.signal, silentLogger, async () => assert.fail("no lookup for host:port"), 10);
    await watch.ready;
    await watch.done;
    assert.deepEqual(watch.current().map((e) => e.address), ["127.0.0.1:9000"]);
  });
});
