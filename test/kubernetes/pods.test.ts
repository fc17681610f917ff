// What every LoKey pod keeps whatever the schemas allow: non-root on a
// read-only root filesystem with nothing added, its service's main from the
// image, and probes that ask the services' real health on their own ports.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bytes, checkedSets, DOCKERFILE, envOf, HEALTHCHECK, label, NAMESPACE, portNumber, root, workloads } from "./manifests.js";

describe("the pods", () => {
  for (const [set, getDocs] of checkedSets()) {
    test(`${set}: every LoKey container runs non-root on a read-only root filesystem with no capabilities`, () => {
      const docs = getDocs();
      for (const w of workloads(docs).values()) {
        const pod = w.pod.securityContext ?? {};
        const c = w.container.securityContext ?? {};
        const where = label(w.doc);
        assert.equal(c.runAsNonRoot ?? pod.runAsNonRoot, true, `${where}: runAsNonRoot`);
        // The image's user is a name (node); only a numeric uid lets the kubelet check runAsNonRoot.
        assert.ok((c.runAsUser ?? pod.runAsUser ?? 0) > 0, `${where}: a numeric non-root runAsUser`);
        assert.equal(c.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
        assert.equal(c.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
        assert.notEqual(c.privileged, true, `${where}: not privileged`);
        assert.deepEqual(c.capabilities, { drop: ["ALL"] }, `${where}: every capability dropped, none added`);
        assert.equal((c.seccompProfile ?? pod.seccompProfile)?.type, "RuntimeDefault", `${where}: seccomp`);
        assert.equal(w.pod.automountServiceAccountToken, false, `${where}: no API token`);
        assert.equal(w.pod.enableServiceLinks, false, `${where}: no Service environment variables`);
        assert.ok(!(w.pod.volumes ?? []).some((v) => v.hostPath), `${where}: no hostPath volume`);
        // /tmp is the one writable place besides the gateway's volume (Node and OpenSSL may use it).
        const tmp = w.container.volumeMounts?.find((m) => m.mountPath === "/tmp");
        assert.ok(tmp && w.pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, `${where}: an emptyDir on /tmp`);
        const { requests = {}, limits = {} } = w.container.resources ?? {};
        assert.ok(requests.memory && limits.memory && bytes(limits.memory) >= bytes(requests.memory), `${where}: memory requested and limited`);
        assert.ok(requests.cpu, `${where}: a CPU request`);
      }
      const ns = docs.find((d) => d.obj.kind === "Namespace" && d.obj.metadata.name === NAMESPACE);
      assert.equal(ns?.obj.metadata.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
    });

    test(`${set}: each container runs its service's main from the image, in the image's working directory`, () => {
      const docs = getDocs();
      assert.match(DOCKERFILE, /^WORKDIR \/app$/m);
      for (const w of workloads(docs).values()) {
        const c = w.container;
        assert.equal(c.workingDir, "/app");
        // The compiled tree the image builds (scripts/build.ts --out dist/app), on
        // plain node with the flags npm start gives (docs/performance.md, Footprint).
        assert.deepEqual(c.command, ["node", "--max-semi-space-size=1", "--optimize-for-size", `dist/app/${w.component}/src/main.bundle.js`]);
        assert.ok(existsSync(join(root, w.component, "src", "main.ts")), `${w.component}/src/main.ts`);
        assert.match(DOCKERFILE, new RegExp(`^COPY ${w.component}/src \\./${w.component}/src$`, "m"));
        assert.match(DOCKERFILE, /^RUN npx tsx scripts\/build\.ts --out dist\/app$/m);
        assert.match(DOCKERFILE, /^COPY --from=build \/app\/dist\/app \.\/dist\/app$/m);
      }
    });

    test(`${set}: the probes ask the services' real health, on the ports they listen on`, () => {
      const docs = getDocs();
      const probeTimeoutMs = Number(/HEALTHCHECK_TIMEOUT_MS \|\| (\d+)/.exec(readFileSync(join(root, HEALTHCHECK), "utf8"))![1]);
      assert.match(DOCKERFILE, new RegExp(`^COPY ${HEALTHCHECK.replace(".", "\\.")} \\./${HEALTHCHECK.replace(".", "\\.")}$`, "m"));
      for (const w of workloads(docs).values()) {
        const c = w.container;
        const env = envOf(c);
        const where = label(w.doc);
        const port = Number(env.PORT);
        assert.deepEqual(c.ports?.map((p) => p.containerPort), [port], `${where}: PORT is the container's one port`);
        const tls = Boolean(env.TLS_CERT_FILE);
        for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
          const probe = c[kind];
          assert.ok(probe, `${where}: ${kind}`);
          if (probe.exec) {
            // scripts/healthcheck.mjs reads PORT and TLS_CERT_FILE from this same environment.
            assert.deepEqual(probe.exec.command, ["node", `/app/${HEALTHCHECK}`], `${where}: ${kind}`);
            assert.ok((probe.timeoutSeconds ?? 1) * 1000 > probeTimeoutMs, `${where}: ${kind} waits longer than the script's own ${probeTimeoutMs} ms`);
          } else if (probe.grpc) {
            // Kubernetes' own gRPC probe speaks no TLS.
            assert.equal(tls, false, `${where}: a native gRPC ${kind} on a TLS port cannot succeed`);
            assert.equal(probe.grpc.port, port, `${where}: ${kind} port`);
            assert.equal(probe.grpc.service ?? "", "", `${where}: ${kind} asks for the overall status`);
          } else {
            assert.ok(probe.tcpSocket, `${where}: ${kind} is exec, grpc or tcpSocket`);
            assert.equal(portNumber(c, probe.tcpSocket.port), port, `${where}: ${kind} port`);
          }
        }
        if (tls) {
          // The upstreams: ready only when SERVING, alive whenever they answer.
          assert.ok(c.readinessProbe?.exec, `${where}: readiness is the health check`);
          assert.ok(c.livenessProbe?.tcpSocket && c.startupProbe?.tcpSocket, `${where}: NOT_SERVING (unseeded, failing chip) must not restart it`);
        } else {
          assert.ok(c.readinessProbe?.grpc && c.livenessProbe?.grpc, `${where}: a plain port gets the native gRPC probes`);
        }
      }
    });

  }
});
