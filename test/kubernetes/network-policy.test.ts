// The NetworkPolicies: only the gateways reach the upstreams, anyone reaches
// the gateways, the upstreams reach nothing, and every selector matches pods
// that exist.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { checkedSets, envOf, label, portNumber, selects, workloads, type Doc, type PolicyRule, type Workload } from "./manifests.js";

/** Who may open `port` on `target`: "anyone", or the components of the LoKey pods allowed. */
function ingressFrom(docs: Doc[], target: Workload, port: number): "anyone" | string[] {
  const policies = docs.filter((d) => d.obj.kind === "NetworkPolicy" && selects(d.obj.spec.podSelector, target.labels));
  const isolating = policies.filter((p) => (p.obj.spec.policyTypes ?? ["Ingress"]).includes("Ingress"));
  if (isolating.length === 0) return "anyone";
  const allowed = new Set<string>();
  for (const p of isolating) {
    for (const rule of (p.obj.spec.ingress ?? []) as PolicyRule[]) {
      if (rule.ports?.length && !rule.ports.some((rp) => rp.port === undefined || portNumber(target.container, rp.port) === port)) continue;
      if (!rule.from?.length) return "anyone";
      for (const peer of rule.from) {
        // Peers outside this namespace or by address would be strangers to the upstreams.
        if (peer.namespaceSelector || peer.ipBlock || !peer.podSelector) return "anyone";
        for (const w of workloads(docs).values()) if (selects(peer.podSelector, w.labels)) allowed.add(w.component);
      }
    }
  }
  return [...allowed].sort();
}

/** Where `source` may connect: per rule, the destination components (or "anywhere") and ports. */
function egressTo(docs: Doc[], source: Workload): { to: "anywhere" | string[]; ports: number[] }[] | "unrestricted" {
  const policies = docs.filter((d) => d.obj.kind === "NetworkPolicy" && selects(d.obj.spec.podSelector, source.labels));
  if (!policies.some((p) => (p.obj.spec.policyTypes ?? []).includes("Egress"))) return "unrestricted";
  return policies.flatMap((p) =>
    ((p.obj.spec.egress ?? []) as PolicyRule[]).map((rule) => ({
      to: rule.to?.length
        ? rule.to.flatMap((peer) => {
            assert.ok(peer.podSelector && !peer.namespaceSelector && !peer.ipBlock, "egress peers are LoKey pods");
            return [...workloads(docs).values()].filter((w) => selects(peer.podSelector, w.labels)).map((w) => w.component);
          })
        : ("anywhere" as const),
      ports: (rule.ports ?? []).map((rp) => Number(rp.port)),
    })),
  );
}

describe("network policies", () => {
  for (const [set, getDocs] of checkedSets()) {
    test(`${set}: only the gateways reach the upstreams; anyone reaches the gateways`, () => {
      const docs = getDocs();
      const ws = workloads(docs);
      const port = (name: string) => Number(envOf(ws.get(name)!.container).PORT);
      assert.deepEqual(ingressFrom(docs, ws.get("controller")!, port("controller")), ["gateway"]);
      assert.deepEqual(ingressFrom(docs, ws.get("fortuna")!, port("fortuna")), ["gateway"]);
      assert.equal(ingressFrom(docs, ws.get("gateway")!, port("gateway")), "anyone");
      // Any other port of theirs is closed to everyone.
      for (const name of ["controller", "fortuna", "gateway"]) assert.deepEqual(ingressFrom(docs, ws.get(name)!, 9999), [], name);
    });

    test(`${set}: the upstreams reach nothing; the gateways reach the upstreams and DNS`, () => {
      const docs = getDocs();
      const ws = workloads(docs);
      assert.deepEqual(egressTo(docs, ws.get("controller")!), []);
      assert.deepEqual(egressTo(docs, ws.get("fortuna")!), []);
      const gw = egressTo(docs, ws.get("gateway")!);
      assert.notEqual(gw, "unrestricted");
      const rules = gw as Exclude<typeof gw, "unrestricted">;
      for (const name of ["controller", "fortuna"]) {
        const port = Number(envOf(ws.get(name)!.container).PORT);
        assert.ok(rules.some((r) => r.to !== "anywhere" && r.to.includes(name) && r.ports.includes(port)), `gateway -> ${name}:${port}`);
      }
      const anywhere = rules.filter((r) => r.to === "anywhere");
      assert.deepEqual(anywhere.flatMap((r) => r.ports), [53, 53], "to anywhere: DNS only");
    });

    test(`${set}: every policy selects pods that exist`, () => {
      const docs = getDocs();
      const ws = [...workloads(docs).values()];
      for (const p of docs.filter((d) => d.obj.kind === "NetworkPolicy")) {
        assert.ok(ws.some((w) => selects(p.obj.spec.podSelector, w.labels)), `${label(p)} selects no LoKey pod`);
        for (const rule of [...(p.obj.spec.ingress ?? []), ...(p.obj.spec.egress ?? [])] as PolicyRule[]) {
          for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])]) {
            if (peer.podSelector) assert.ok(ws.some((w) => selects(peer.podSelector, w.labels)), `${label(p)}: a peer selector matches no LoKey pod`);
          }
        }
      }
    });
  }
});
