// How the pods find each other and what they read: the upstreams serve
// mutual TLS to the gateways alone, through headless Services the gateways'
// addresses name; Services and PodDisruptionBudgets select the pods they are
// for; every Secret a pod reads is one the README creates.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { checkedSets, envOf, label, NAMESPACE, portNumber, readmeSecrets, secretFile, selects, workloads } from "./manifests.js";

describe("services and secrets", () => {
  for (const [set, getDocs] of checkedSets()) {
    test(`${set}: upstreams serve mutual TLS to the gateway alone; the gateway dials them through their headless Services`, () => {
      const docs = getDocs();
      const ws = workloads(docs);
      const services = docs.filter((d) => d.obj.kind === "Service");
      for (const name of ["controller", "fortuna"]) {
        const env = envOf(ws.get(name)!.container);
        assert.equal(env.HOST, "0.0.0.0");
        assert.ok(env.TLS_CERT_FILE && env.TLS_KEY_FILE && env.TLS_CLIENT_CA_FILE, `${name}: a non-loopback HOST needs TLS and a client CA`);
        assert.equal(env.TLS_ALLOWED_CLIENTS, "gateway");
      }
      const gw = ws.get("gateway")!;
      const env = envOf(gw.container);
      assert.ok(env.UPSTREAM_CA_FILE && env.UPSTREAM_CERT_FILE && env.UPSTREAM_KEY_FILE);
      for (const [variable, target] of [["CONTROLLER_ADDR", "controller"], ["FORTUNA_ADDR", "fortuna"]] as const) {
        const m = /^dns:\/\/\/([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)$/.exec(env[variable]);
        assert.ok(m, `${variable}=${env[variable]}`);
        const [, svcName, ns, port] = m;
        assert.equal(ns, NAMESPACE, `${variable} names the namespace everything is in`);
        const svc = services.find((s) => s.obj.metadata.name === svcName);
        assert.ok(svc, `${variable}: a Service ${svcName}`);
        assert.equal(svc.obj.spec.clusterIP, "None", `${svcName} is headless`);
        assert.ok(selects(svc.obj.spec.selector ? { matchLabels: svc.obj.spec.selector } : undefined, ws.get(target)!.labels), `${svcName} selects the ${target} pods`);
        assert.ok(svc.obj.spec.ports.some((p: { port: number }) => p.port === Number(port)), `${svcName} has port ${port}`);
        assert.equal(Number(port), Number(envOf(ws.get(target)!.container).PORT));
      }
      // The gateways seed Fortuna, so they must find a Fortuna before it is ready.
      assert.equal(services.find((s) => s.obj.metadata.name === "lokey-fortuna")?.obj.spec.publishNotReadyAddresses, true);
      const db = gw.container.volumeMounts?.find((m) => env.DB_PATH.startsWith(`${m.mountPath}/`));
      assert.ok(db, "DB_PATH lies on a mounted volume");
      const sts = gw.doc.obj.spec;
      assert.ok(sts.volumeClaimTemplates.some((t: { metadata: { name: string } }) => t.metadata.name === db.name), "that volume is each gateway's own claim");
    });

    test(`${set}: every Service and PodDisruptionBudget selects the pods it is for, on their ports`, () => {
      const docs = getDocs();
      const ws = [...workloads(docs).values()];
      for (const d of docs.filter((x) => x.obj.kind === "Service")) {
        const matched = ws.filter((w) => selects({ matchLabels: d.obj.spec.selector }, w.labels));
        assert.equal(matched.length, 1, `${label(d)} selects one workload's pods`);
        for (const p of d.obj.spec.ports) assert.equal(portNumber(matched[0].container, p.targetPort ?? p.port), p.port, `${label(d)} port ${p.port}`);
      }
      const sts = ws.find((w) => w.doc.obj.kind === "StatefulSet")!;
      const governing = docs.find((d) => d.obj.kind === "Service" && d.obj.metadata.name === sts.doc.obj.spec.serviceName);
      assert.equal(governing?.obj.spec.clusterIP, "None", "the StatefulSet's serviceName is a headless Service");
      for (const w of ws) {
        assert.ok(selects(w.doc.obj.spec.selector, w.labels), `${label(w.doc)}: its selector matches its own template`);
        if (w.doc.obj.kind === "DaemonSet") continue; // one pod per chip node: drains leave DaemonSet pods alone
        const pdbs = docs.filter((d) => d.obj.kind === "PodDisruptionBudget" && selects(d.obj.spec.selector, w.labels));
        assert.equal(pdbs.length, 1, `${label(w.doc)}: one PodDisruptionBudget`);
        assert.ok(pdbs[0].obj.spec.minAvailable < w.doc.obj.spec.replicas, `${label(w.doc)}: the budget still lets a drain proceed`);
      }
    });

    test(`${set}: every Secret a pod reads is one the README creates, with the keys the pod reads`, () => {
      const docs = getDocs();
      const created = readmeSecrets();
      for (const w of workloads(docs).values()) {
        for (const v of w.pod.volumes ?? []) {
          if (v.secret) assert.ok(created.has(v.secret.secretName), `${label(w.doc)}: the README creates ${v.secret.secretName}`);
        }
        for (const [name, value] of Object.entries(envOf(w.container))) {
          if (!name.endsWith("_FILE")) continue;
          const { secret, key } = secretFile(w, value);
          assert.ok(created.get(secret)?.has(key), `${label(w.doc)}: ${name}=${value} is key ${key} of ${secret}, which the README's command provides`);
        }
      }
    });
  }
});
