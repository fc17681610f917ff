// The controller and its chip: the I2C device from the device plugin on chip
// nodes only (or, without one, a privileged controller), and the k3s-pi
// overlay's image, volumes and limits.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { baseFileDocs, builds, bytes, envOf, K8S, label, NAMESPACE, NO_KUBECTL, ownResources, workloads, type PodSpec } from "./manifests.js";

describe("the chip", () => {
  test("the controller requests the device the device plugin advertises, on the bus it opens, on chip nodes only", () => {
    const docs = builds?.pi() ?? [...baseFileDocs, ...ownResources(join(K8S, "components/i2c-device-plugin"))];
    const controller = workloads(docs).get("controller")!;
    const env = envOf(controller.container);
    assert.equal(env.TRNG_REQUIRE_HARDWARE, "true");
    const chipLabel = controller.pod.nodeSelector ?? {};
    assert.equal(chipLabel["lokey.dev/atecc608a"], "true");
    assert.equal(controller.container.resources?.limits?.["squat.ai/i2c"], 1);
    const plugin = docs.find((d) => d.obj.kind === "DaemonSet" && d.obj.metadata.name === "lokey-i2c-device-plugin")!;
    assert.equal(plugin.obj.metadata.namespace, "kube-system", "the privileged plugin stays out of the restricted namespace");
    const pod: PodSpec = plugin.obj.spec.template.spec;
    assert.equal(pod.nodeSelector?.["lokey.dev/atecc608a"], "true");
    const args = pod.containers[0].args ?? [];
    const spec = JSON.parse(args[args.indexOf("--device") + 1]) as { name: string; groups: { paths: { path: string; permissions?: string }[] }[] };
    assert.equal(`squat.ai/${spec.name}`, "squat.ai/i2c");
    assert.deepEqual(spec.groups.flatMap((g) => g.paths), [{ path: `/dev/i2c-${env.I2C_BUS_NUMBER}`, permissions: "rw" }]);
    // The process needs the device's group unless the runtime hands it to runAsUser.
    assert.ok(controller.pod.securityContext?.supplementalGroups?.length, "the host's i2c group");
  });

  test("without a device plugin: a privileged controller with the host's device, in a namespace that admits it", (t) => {
    if (!builds) return t.skip(NO_KUBECTL);
    const docs = builds.privileged();
    const controller = workloads(docs).get("controller")!;
    assert.equal(controller.container.securityContext?.privileged, true);
    assert.equal(controller.container.resources?.limits?.["squat.ai/i2c"], undefined);
    const bus = envOf(controller.container).I2C_BUS_NUMBER;
    const dev = controller.pod.volumes?.find((v) => v.hostPath?.path === `/dev/i2c-${bus}`);
    assert.equal(dev?.hostPath?.type, "CharDevice");
    assert.ok(controller.container.volumeMounts?.some((m) => m.name === dev.name && m.mountPath === `/dev/i2c-${bus}`));
    const ns = docs.find((d) => d.obj.kind === "Namespace")!;
    assert.equal(ns.obj.metadata.labels?.["pod-security.kubernetes.io/enforce"], "privileged");
    // Only the controller changes.
    for (const name of ["fortuna", "gateway"]) assert.notEqual(workloads(docs).get(name)!.container.securityContext?.privileged, true);
  });

  test("k3s-pi: the arm64 image on arm64 nodes, k3s's local-path volumes, limits that fit a Pi", (t) => {
    if (!builds) return t.skip(NO_KUBECTL);
    const ws = workloads(builds.pi());
    const base = workloads(builds.base());
    for (const w of ws.values()) {
      assert.notEqual(w.container.image, "lokey:latest", `${w.component}: the overlay's image`);
      assert.match(w.container.image, /arm64/);
      assert.equal(w.pod.nodeSelector?.["kubernetes.io/arch"], "arm64");
      const limit = bytes(w.container.resources!.limits!.memory);
      assert.ok(limit <= bytes(base.get(w.component)!.container.resources!.limits!.memory), `${w.component}: no more memory than the base`);
      assert.ok(limit >= 1.5 * bytes(w.container.resources!.requests!.memory), `${w.component}: still room to grow past the idle footprint`);
    }
    const sts = ws.get("gateway")!.doc.obj.spec;
    assert.equal(sts.volumeClaimTemplates[0].spec.storageClassName, "local-path");
    // The base's namespace reaches the base's objects only: the device plugin stays in kube-system.
    for (const d of builds.pi()) {
      if (d.obj.kind === "Namespace") continue;
      assert.equal(d.obj.metadata.namespace, d.obj.metadata.name === "lokey-i2c-device-plugin" ? "kube-system" : NAMESPACE, label(d));
    }
  });
});
