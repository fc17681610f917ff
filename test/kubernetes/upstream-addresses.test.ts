// The gateway's upstream addresses in the manifests are ones the gateway
// accepts: its environment, with each Secret's file put where the manifest
// mounts it, read by the gateway's own config reader as at start-up. Each is a
// dns:/// name of the headless Service in front of that upstream, on the port
// it listens on, over mutual TLS (the names are off this machine).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EnvReader } from "../../runtime/src/index.js";
import { makeCertSet, type CertSet } from "../../runtime/test/tls-helpers.js";
import { readGatewayEngineConfig } from "../../gateway/src/engine/config.js";
import { checkedSets, envOf, localEnv, NAMESPACE, readmeCertsCommand, readmeSecrets, workloads } from "./manifests.js";

describe("the gateway's upstream addresses", () => {
  let certs: CertSet;
  let dir: string;
  before(() => {
    certs = makeCertSet("k8s-addresses");
    // The README makes the admin token beside the certificates.
    const token = [...readmeSecrets().get("lokey-admin-token")!.values()][0];
    writeFileSync(join(certs.dir, token.slice(readmeCertsCommand().dir.length + 1)), randomBytes(32).toString("hex"), { mode: 0o600 });
    dir = mkdtempSync(join(tmpdir(), "lokey-k8s-addresses-"));
  });
  after(() => {
    certs.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [set, getDocs] of checkedSets()) {
    test(`${set}: CONTROLLER_ADDR and FORTUNA_ADDR are dns:/// names the gateway's config reader accepts, one per upstream Service`, () => {
      const docs = getDocs();
      const ws = workloads(docs);
      const cfg = readGatewayEngineConfig(new EnvReader(localEnv(ws.get("gateway")!, certs, join(dir, set))));
      for (const [target, specs] of [["controller", cfg.controllers], ["fortuna", cfg.fortunas]] as const) {
        assert.equal(specs.length, 1, target);
        const [spec] = specs;
        assert.equal(spec.dns, true, `${spec.spec}: every ${target} behind the name, each its own upstream`);
        assert.equal(spec.host, `lokey-${target}.${NAMESPACE}.svc.cluster.local`);
        assert.equal(spec.port, Number(envOf(ws.get(target)!.container).PORT));
        const svc = docs.find((d) => d.obj.kind === "Service" && d.obj.metadata.name === `lokey-${target}`);
        assert.equal(svc?.obj.spec.clusterIP, "None", "a headless Service: its name answers with every pod's address");
      }
      // Off this machine, the upstreams are reached over mutual TLS only.
      assert.ok(cfg.upstreamTls?.ca && cfg.upstreamTls.cert && cfg.upstreamTls.key);
    });
  }
});
