// deploy/kubernetes: every object validates offline against the Kubernetes
// API schemas bundled in kubernetes-models, and type-checks against that
// package's declarations, because the JSON schemas accept unknown fields and
// a misspelt `readOnlyRootFileSystem` would otherwise pass unnoticed. With
// kubectl on the path, what `kubectl kustomize` builds is checked too (the
// base, the k3s-pi overlay, the privileged variant); without it, the files.
// Then what the schemas cannot see: the probes reach real health services,
// the NetworkPolicies let only the gateways reach the upstreams, Services and
// budgets select the pods they are for, every LoKey container keeps its
// security settings, and the Secrets and names are those the README creates.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { makeCertSet, root, startProcess, type CertSet, type RunningProcess } from "../runtime/test/tls-helpers.js";

const K8S = join(root, "deploy/kubernetes");
const README = readFileSync(join(K8S, "README.md"), "utf8");

// ---------------------------------------------------------------- the objects

type Labels = Record<string, string>;
interface Selector {
  matchLabels?: Labels;
  matchExpressions?: unknown[];
}
interface EnvVar {
  name: string;
  value?: string;
}
interface Probe {
  exec?: { command: string[] };
  grpc?: { port: number; service?: string };
  tcpSocket?: { port: number | string };
  httpGet?: unknown;
  timeoutSeconds?: number;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
  supplementalGroups?: number[];
}
interface Container {
  name: string;
  image: string;
  workingDir?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: unknown[] };
  hostPath?: { path: string; type?: string };
  emptyDir?: object;
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  nodeSelector?: Labels;
  securityContext?: SecurityContext;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
}
interface PolicyPeer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: unknown;
}
interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: { protocol?: string; port?: number | string }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels };
  // The shapes differ per kind (the schema checks cover them); each check reads the fields of the kinds it looks at.
  spec?: any;
}
interface Doc {
  /** Where it came from: a file under deploy/kubernetes, or a kustomize build. */
  source: string;
  obj: K8sObject;
}

function parseYaml(text: string, source: string): Doc[] {
  return parseAllDocuments(text).flatMap((d) => {
    if (d.errors.length) throw new Error(`${source}: ${d.errors.map((e) => e.message).join("; ")}`);
    const obj = d.toJS() as K8sObject | null;
    return obj ? [{ source, obj }] : [];
  });
}

const rel = (p: string) => relative(root, p);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

interface Kustomization {
  kind: string;
  namespace?: string;
  resources?: string[];
  components?: string[];
  patches?: { path?: string; patch?: string; target?: object }[];
}

const kustomizationDirs = walk(K8S).filter((f) => basename(f) === "kustomization.yaml").map(dirname).sort();
const kustomization = (dir: string) => parseYaml(readFileSync(join(dir, "kustomization.yaml"), "utf8"), rel(dir))[0].obj as unknown as Kustomization;

/** The objects a kustomization (or component) lists as files of its own, not through other directories. */
function ownResources(dir: string): Doc[] {
  return (kustomization(dir).resources ?? [])
    .map((r) => join(dir, r))
    .filter((p) => statSync(p).isFile())
    .flatMap((p) => parseYaml(readFileSync(p, "utf8"), rel(p)));
}

const BASE = join(K8S, "base");
const NAMESPACE = kustomization(BASE).namespace!;
const fileDocs = kustomizationDirs.flatMap(ownResources);
// Without kubectl, the base's own files stand for its build: the only
// difference is the namespace kustomize sets on them.
const baseFileDocs = ownResources(BASE).map((d) => ({ ...d, obj: { ...d.obj, metadata: { ...d.obj.metadata, namespace: d.obj.kind === "Namespace" ? undefined : NAMESPACE } } }));

const KUBECTL = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).error ? undefined : "kubectl";
const NO_KUBECTL = "kubectl is not installed: kustomize builds are not checked, only the files";

function kustomize(dir: string): Doc[] {
  const r = spawnSync(KUBECTL!, ["kustomize", dir], { encoding: "utf8" });
  assert.equal(r.status, 0, `kubectl kustomize ${rel(dir)}: ${r.stderr}`);
  return parseYaml(r.stdout, `kubectl kustomize ${rel(dir)}`);
}

/** The base with the privileged component, from a scratch kustomization (kustomize refuses absolute paths). */
function kustomizePrivileged(): Doc[] {
  const dir = mkdtempSync(join(tmpdir(), "lokey-kustomize-"));
  try {
    const toRepo = (p: string) => relative(dir, p);
    writeFileSync(
      join(dir, "kustomization.yaml"),
      ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:", `  - ${toRepo(BASE)}`, "components:", `  - ${toRepo(join(K8S, "components/i2c-privileged"))}`, ""].join("\n"),
    );
    return kustomize(dir).map((d) => ({ ...d, source: "kubectl kustomize base + components/i2c-privileged" }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Built on first use, so that a build that fails fails the tests that use it, each with kubectl's message. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

const builds = KUBECTL
  ? { base: once(() => kustomize(BASE)), pi: once(() => kustomize(join(K8S, "overlays/k3s-pi"))), privileged: once(kustomizePrivileged) }
  : undefined;

const label = (d: Doc) => `${d.source}: ${d.obj.kind}/${d.obj.metadata?.name}`;

// ------------------------------------------------------- the schema checks

/** kubernetes-models' module for an apiVersion and kind: "apps/v1" + "DaemonSet" -> "kubernetes-models/apps/v1/DaemonSet". */
const modelModule = (o: K8sObject) => `kubernetes-models/${o.apiVersion}/${o.kind}`;

async function schemaErrors(docs: Doc[]): Promise<string[]> {
  const errors: string[] = [];
  for (const d of docs) {
    let Model: new (data: unknown) => { validate(): void };
    try {
      Model = (await import(modelModule(d.obj)))[d.obj.kind];
    } catch {
      errors.push(`${label(d)}: no schema for ${d.obj.apiVersion} ${d.obj.kind}`);
      continue;
    }
    try {
      new Model(d.obj).validate();
    } catch (err) {
      errors.push(`${label(d)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return errors;
}

/**
 * Each object as an object literal typed with kubernetes-models' interface
 * for its kind, compiled in memory: TypeScript's excess-property check names
 * every field the API does not have, at any depth, and every value of the
 * wrong type.
 */
function typeErrors(docs: Doc[]): string[] {
  // Never written: the compiler host below serves it. It sits in test/ so
  // that module resolution finds node_modules and package.json's "type".
  const file = join(root, "test", "__kubernetes_manifests__.ts");
  let text = "";
  const spans: { first: number; last: number; doc: Doc }[] = [];
  docs.forEach((d, i) => {
    text += `import type { I${d.obj.kind} as T${i} } from "${modelModule(d.obj)}";\n`;
  });
  docs.forEach((d, i) => {
    const first = text.split("\n").length - 1;
    text += `export const o${i}: T${i} = ${JSON.stringify(d.obj, null, 1)};\n`;
    spans.push({ first, last: text.split("\n").length - 2, doc: d });
  });
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, text, lang) : getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? text : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, source).map((diag) => {
    const line = diag.start === undefined ? -1 : source.getLineAndCharacterOfPosition(diag.start).line;
    const span = spans.find((s) => line >= s.first && line <= s.last);
    const where = span ? `${label(span.doc)} (${source.getFullText().split("\n")[line].trim()})` : `line ${line + 1}`;
    return `${where}: ${ts.flattenDiagnosticMessageText(diag.messageText, "\n")}`;
  });
}

describe("schemas", () => {
  test("every kustomization names files and directories that exist", () => {
    assert.deepEqual(kustomizationDirs.map(rel), [
      "deploy/kubernetes/base",
      "deploy/kubernetes/components/i2c-device-plugin",
      "deploy/kubernetes/components/i2c-privileged",
      "deploy/kubernetes/overlays/k3s-pi",
    ]);
    for (const dir of kustomizationDirs) {
      const k = kustomization(dir);
      const paths = [...(k.resources ?? []), ...(k.components ?? []), ...(k.patches ?? []).flatMap((p) => (p.path ? [p.path] : []))];
      for (const p of paths) assert.ok(existsSync(join(dir, p)), `${rel(dir)}/kustomization.yaml names ${p}, which does not exist`);
      // Every YAML file beside it is used: a forgotten one would go unchecked and unapplied.
      for (const f of readdirSync(dir).filter((n) => n.endsWith(".yaml") && n !== "kustomization.yaml")) {
        assert.ok(paths.includes(f), `${rel(dir)}/${f} is not named in its kustomization.yaml`);
      }
    }
  });

  test("every manifest file validates against the Kubernetes API schemas, with no unknown field", async () => {
    assert.ok(fileDocs.length >= 15, `found ${fileDocs.length} objects`);
    assert.deepEqual(await schemaErrors(fileDocs), []);
    assert.deepEqual(typeErrors(fileDocs), []);
  });

  test("the checks catch a misspelt field and a wrong value", async () => {
    const gateway = fileDocs.find((d) => d.obj.kind === "StatefulSet")!;
    const broken = structuredClone(gateway);
    const c = broken.obj.spec.template.spec.containers[0];
    c.securityContext.readOnlyRootFileSystem = true;
    c.ports[0].containerPort = "8080";
    const typed = typeErrors([broken]).join("\n");
    assert.match(typed, /readOnlyRootFileSystem/);
    assert.match(typed, /containerPort/);
    assert.match((await schemaErrors([broken])).join("\n"), /containerPort must be integer/);
  });

  for (const [name, what] of [["base", "the base"], ["pi", "the k3s-pi overlay"], ["privileged", "the base with components/i2c-privileged"]] as const) {
    test(`kubectl kustomize: ${what} builds, and every object validates with no unknown field`, async (t) => {
      if (!builds) return t.skip(NO_KUBECTL);
      const docs = builds[name]();
      assert.deepEqual(await schemaErrors(docs), []);
      assert.deepEqual(typeErrors(docs), []);
    });
  }
});

// ------------------------------------------------------------- the workloads

interface Workload {
  doc: Doc;
  component: string;
  labels: Labels;
  pod: PodSpec;
  container: Container;
}

/** LoKey's own pods (app.kubernetes.io/name=lokey), by component. */
function workloads(docs: Doc[]): Map<string, Workload> {
  const out = new Map<string, Workload>();
  for (const doc of docs) {
    if (!["DaemonSet", "Deployment", "StatefulSet"].includes(doc.obj.kind)) continue;
    const labels: Labels = doc.obj.spec.template.metadata.labels;
    if (labels["app.kubernetes.io/name"] !== "lokey") continue;
    const pod: PodSpec = doc.obj.spec.template.spec;
    assert.equal(pod.containers.length, 1, `${label(doc)}: one container`);
    out.set(labels["app.kubernetes.io/component"], { doc, component: labels["app.kubernetes.io/component"], labels, pod, container: pod.containers[0] });
  }
  assert.deepEqual([...out.keys()].sort(), ["controller", "fortuna", "gateway"]);
  return out;
}

function selects(sel: Selector | undefined, labels: Labels): boolean {
  // Only matchLabels is used here; an expression would need evaluating, so it fails loudly instead.
  assert.equal(sel?.matchExpressions, undefined, "matchExpressions are not evaluated by this test");
  return Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ""]));

/** A probe's or policy's port (a number or a container port's name) as a number. */
function portNumber(c: Container, port: number | string): number {
  if (typeof port === "number") return port;
  const p = c.ports?.find((x) => x.name === port);
  assert.ok(p, `${c.name} has no port named ${port}`);
  return p.containerPort;
}

/** Memory quantities as bytes ("160Mi", "1Gi", "512M"). */
function bytes(q: string | number): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(String(q));
  assert.ok(m, `quantity ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
}

/** The builds to check: what kubectl makes, or else the base's own files. */
const checkedSets = (): [string, () => Doc[]][] => (builds ? [["base", builds.base], ["k3s-pi", builds.pi]] : [["base files", () => baseFileDocs]]);

const HEALTHCHECK = "scripts/healthcheck.mjs";
const DOCKERFILE = readFileSync(join(root, "Dockerfile"), "utf8");

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
        // tsx writes its compile cache under /tmp, the one writable place besides the gateway's volume.
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
        assert.deepEqual(c.command, ["node", "--import", "tsx", `${w.component}/src/main.ts`]);
        assert.ok(existsSync(join(root, c.command![3])), c.command![3]);
        assert.match(DOCKERFILE, new RegExp(`^COPY ${w.component}/src \\./${w.component}/src$`, "m"));
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

// ---------------------------------------------------------- network policies

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

// ------------------------------------------------------ the overlay, the I2C device

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

// --------------------------------------------------------- README and certs

/** `kubectl -n NS create secret generic NAME --from-file=KEY=PATH...` commands in the README: NAME -> KEY -> PATH. */
function readmeSecrets(): Map<string, Map<string, string>> {
  const text = README.replace(/\s*\\\n\s*/g, " ");
  const out = new Map<string, Map<string, string>>();
  for (const m of text.matchAll(/kubectl -n (\S+) create secret generic (\S+)((?: --from-file=\S+)+)/g)) {
    assert.equal(m[1], NAMESPACE, `${m[2]} is created in the namespace the pods are in`);
    out.set(m[2], new Map([...m[3].matchAll(/--from-file=([^=\s]+)=(\S+)/g)].map((f) => [f[1], f[2]])));
  }
  return out;
}

/** The Secret and key behind a file path in a container (a secret volume mounted above it). */
function secretFile(w: Workload, path: string): { secret: string; key: string } {
  const mount = w.container.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${label(w.doc)}: ${path} lies on a mounted volume`);
  const secret = w.pod.volumes?.find((v) => v.name === mount.name)?.secret;
  assert.ok(secret && !secret.items, `${label(w.doc)}: ${path} comes from a Secret mounted whole`);
  return { secret: secret.secretName, key: path.slice(mount.mountPath.length + 1) };
}

/** The `npm run certs -- DIR --host SERVICE=NAME...` command in the README. */
function readmeCertsCommand(): { dir: string; hosts: [string, string][] } {
  const m = /npm run certs -- (\S+)((?: --host \S+)+)/.exec(README.replace(/\s*\\\n\s*/g, " "));
  assert.ok(m, "the README shows how to make the certificates");
  return { dir: m[1], hosts: [...m[2].matchAll(/--host (\S+)=(\S+)/g)].map((h) => [h[1], h[2]]) };
}

describe("certificates", () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "lokey-k8s-certs-"));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "scripts/certs.ts", ...args], { cwd: root, encoding: "utf8" });

  test("the README's `npm run certs` gives each upstream the name the gateway dials, and only its own", () => {
    const { dir, hosts } = readmeCertsCommand();
    const out = join(tmp, "readme");
    const r = cli(out, ...hosts.flatMap(([s, h]) => ["--host", `${s}=${h}`]));
    assert.equal(r.status, 0, r.stderr);
    const env = envOf(workloads(baseFileDocs).get("gateway")!.container);
    const dialed = { controller: env.CONTROLLER_ADDR, fortuna: env.FORTUNA_ADDR };
    for (const [service, address] of Object.entries(dialed)) {
      const host = /^dns:\/\/\/([^:]+):\d+$/.exec(address)![1];
      const own = new X509Certificate(readFileSync(join(out, `${service}.crt`)));
      assert.equal(own.checkHost(host, { subject: "never" }), host, `${service}.crt names ${host}`);
      assert.match(own.subject, new RegExp(`^CN=${service}$`, "m"));
      for (const other of ["controller", "fortuna", "gateway"].filter((s) => s !== service)) {
        const cert = new X509Certificate(readFileSync(join(out, `${other}.crt`)));
        assert.equal(cert.checkHost(host, { subject: "never" }), undefined, `${other}.crt must not name ${host}`);
      }
    }
    // The README's Secrets take their files from the directory it makes.
    for (const [secret, keys] of readmeSecrets()) {
      for (const [key, path] of keys) {
        assert.ok(path.startsWith(`${dir}/`), `${secret}/${key} from ${path}`);
        if (secret.endsWith("-tls")) assert.ok(existsSync(join(out, path.slice(dir.length + 1))), `${path} is among what npm run certs makes`);
      }
    }
  });

  test("--host: names added later make only the certificates lacking them again, under the same CA", () => {
    const dir = join(tmp, "later");
    assert.equal(cli(dir).status, 0);
    const before = Object.fromEntries(["ca.crt", "ca.key", "controller.crt", "fortuna.crt", "gateway.crt"].map((f) => [f, readFileSync(join(dir, f))]));
    const r = cli(dir, "--host", "fortuna=lokey-fortuna.example.svc.cluster.local", "--host=shared.example");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /controller\.crt \(shared\.example\), fortuna\.crt \(shared\.example, lokey-fortuna\.example\.svc\.cluster\.local\), gateway\.crt \(shared\.example\)/);
    for (const f of ["ca.crt", "ca.key"]) assert.deepEqual(readFileSync(join(dir, f)), before[f], `${f} kept`);
    const ca = new X509Certificate(before["ca.crt"]);
    for (const s of ["controller", "fortuna", "gateway"]) {
      const cert = new X509Certificate(readFileSync(join(dir, `${s}.crt`)));
      assert.ok(cert.verify(ca.publicKey), `${s}.crt signed by the same CA`);
      assert.equal(cert.checkHost("shared.example", { subject: "never" }), "shared.example");
      assert.equal(cert.checkHost("localhost", { subject: "never" }), "localhost", `${s}.crt keeps its usual names`);
      assert.equal(statSync(join(dir, `${s}.key`)).mode & 0o777, 0o600);
      // The key was replaced along with the certificate.
      assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(join(dir, `${s}.key`)))), `${s}.key belongs to ${s}.crt`);
    }
    assert.equal(new X509Certificate(readFileSync(join(dir, "fortuna.crt"))).checkHost("lokey-fortuna.example.svc.cluster.local", { subject: "never" }), "lokey-fortuna.example.svc.cluster.local");
    assert.equal(new X509Certificate(readFileSync(join(dir, "controller.crt"))).checkHost("lokey-fortuna.example.svc.cluster.local", { subject: "never" }), undefined);
    // Asked again, nothing lacks a name: nothing is made.
    const again = cli(dir, "--host", "fortuna=lokey-fortuna.example.svc.cluster.local", "--host=shared.example");
    assert.match(again.stdout, /are complete/);
    for (const bad of [["--host", "nobody=x.example"], ["--host", "not a name"], ["--hots", "x"]]) {
      const refused = cli(dir, ...bad);
      assert.equal(refused.status, 1, bad.join(" "));
      assert.match(refused.stderr, /host|option/);
    }
  });
});

// ----------------------------------------------------- the probes, for real

/**
 * A container's environment on this machine: every file under a mounted
 * Secret becomes the file the README puts under that key, HOST loopback and
 * PORT left to the system (no fixed port is free here for sure).
 */
function localEnv(w: Workload, certs: CertSet, dir: string): Record<string, string> {
  const created = readmeSecrets();
  const { dir: certsDir } = readmeCertsCommand();
  const env = envOf(w.container);
  for (const [name, value] of Object.entries(env)) {
    if (!name.endsWith("_FILE")) continue;
    const { secret, key } = secretFile(w, value);
    const from = created.get(secret)!.get(key)!;
    const local = join(dir, secret, key);
    mkdirSync(dirname(local), { recursive: true });
    writeFileSync(local, readFileSync(join(certs.dir, from.slice(certsDir.length + 1))), { mode: 0o600 });
    env[name] = local;
  }
  return { ...env, HOST: "127.0.0.1", PORT: "0" };
}

/** Runs a probe's exec command as the kubelet would, with /app being this checkout. */
function execProbe(probe: Probe, env: Record<string, string>) {
  const [cmd, ...args] = probe.exec!.command;
  assert.equal(cmd, "node");
  const r = spawnSync(process.execPath, args.map((a) => a.replace(/^\/app\//, `${root}/`)), { cwd: root, env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

const tcpAccepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });

describe("Fortuna's probes against a Fortuna started with the manifest's environment", () => {
  const running: RunningProcess[] = [];
  let certs: CertSet;
  let dir: string;
  before(() => {
    certs = makeCertSet("k8s-probes");
    dir = mkdtempSync(join(tmpdir(), "lokey-k8s-probes-"));
  });
  after(async () => {
    for (const p of running) await p.stop();
    certs.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test("unseeded: alive (TCP) but not ready (NOT_SERVING over TLS); seeded: ready", async () => {
    const w = workloads(baseFileDocs).get("fortuna")!;
    const env = localEnv(w, certs, dir);
    const main = join(root, w.container.command![3]);
    const unseeded = await startProcess(main, env);
    running.push(unseeded);
    const probeEnv = { ...env, PORT: String(unseeded.port) };
    assert.equal(await tcpAccepts(unseeded.port), true, "liveness and startup: the port accepts");
    const ready = execProbe(w.container.readinessProbe!, probeEnv);
    assert.equal(ready.code, 1);
    assert.match(ready.stderr, /status 2/); // NOT_SERVING, answered over TLS
    const seeded = await startProcess(main, { ...env, FORTUNA_SEED_FROM_OS: "true" });
    running.push(seeded);
    assert.deepEqual(execProbe(w.container.readinessProbe!, { ...env, PORT: String(seeded.port) }), { code: 0, stderr: "" });
  });
});
