// deploy/kubernetes as the tests see it: every object of every kustomization
// (the files, and what `kubectl kustomize` builds when kubectl is installed),
// LoKey's workloads by component, and what the README creates (Secrets,
// certificates). Each test file under test/kubernetes/ checks one concept.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { root, type CertSet } from "../../runtime/test/tls-helpers.js";

export { root };
export const K8S = join(root, "deploy/kubernetes");
export const README = readFileSync(join(K8S, "README.md"), "utf8");

export type Labels = Record<string, string>;
export interface Selector {
  matchLabels?: Labels;
  matchExpressions?: unknown[];
}
export interface EnvVar {
  name: string;
  value?: string;
}
export interface Probe {
  exec?: { command: string[] };
  grpc?: { port: number; service?: string };
  tcpSocket?: { port: number | string };
  httpGet?: unknown;
  timeoutSeconds?: number;
}
export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
  supplementalGroups?: number[];
}
export interface Container {
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
export interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: unknown[] };
  hostPath?: { path: string; type?: string };
  emptyDir?: object;
}
export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  nodeSelector?: Labels;
  securityContext?: SecurityContext;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
}
export interface PolicyPeer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: unknown;
}
export interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: { protocol?: string; port?: number | string }[];
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels };
  // The shapes differ per kind (the schema checks cover them); each check reads the fields of the kinds it looks at.
  spec?: any;
}
export interface Doc {
  /** Where it came from: a file under deploy/kubernetes, or a kustomize build. */
  source: string;
  obj: K8sObject;
}

export function parseYaml(text: string, source: string): Doc[] {
  return parseAllDocuments(text).flatMap((d) => {
    if (d.errors.length) throw new Error(`${source}: ${d.errors.map((e) => e.message).join("; ")}`);
    const obj = d.toJS() as K8sObject | null;
    return obj ? [{ source, obj }] : [];
  });
}

export const rel = (p: string) => relative(root, p);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

export interface Kustomization {
  kind: string;
  namespace?: string;
  resources?: string[];
  components?: string[];
  patches?: { path?: string; patch?: string; target?: object }[];
}

export const kustomizationDirs = walk(K8S).filter((f) => basename(f) === "kustomization.yaml").map(dirname).sort();
export const kustomization = (dir: string) => parseYaml(readFileSync(join(dir, "kustomization.yaml"), "utf8"), rel(dir))[0].obj as unknown as Kustomization;

/** The objects a kustomization (or component) lists as files of its own, not through other directories. */
export function ownResources(dir: string): Doc[] {
  return (kustomization(dir).resources ?? [])
    .map((r) => join(dir, r))
    .filter((p) => statSync(p).isFile())
    .flatMap((p) => parseYaml(readFileSync(p, "utf8"), rel(p)));
}

export const BASE = join(K8S, "base");
export const NAMESPACE = kustomization(BASE).namespace!;
export const fileDocs = kustomizationDirs.flatMap(ownResources);
// Without kubectl, the base's own files stand for its build: the only
// difference is the namespace kustomize sets on them.
export const baseFileDocs = ownResources(BASE).map((d) => ({ ...d, obj: { ...d.obj, metadata: { ...d.obj.metadata, namespace: d.obj.kind === "Namespace" ? undefined : NAMESPACE } } }));

export const KUBECTL = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).error ? undefined : "kubectl";
export const NO_KUBECTL = "kubectl is not installed: kustomize builds are not checked, only the files";

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

export const builds = KUBECTL
  ? { base: once(() => kustomize(BASE)), pi: once(() => kustomize(join(K8S, "overlays/k3s-pi"))), privileged: once(kustomizePrivileged) }
  : undefined;

export const label = (d: Doc) => `${d.source}: ${d.obj.kind}/${d.obj.metadata?.name}`;

export interface Workload {
  doc: Doc;
  component: string;
  labels: Labels;
  pod: PodSpec;
  container: Container;
}

/** LoKey's own pods (app.kubernetes.io/name=lokey), by component. */
export function workloads(docs: Doc[]): Map<string, Workload> {
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

export function selects(sel: Selector | undefined, labels: Labels): boolean {
  // Only matchLabels is used here; an expression would need evaluating, so it fails loudly instead.
  assert.equal(sel?.matchExpressions, undefined, "matchExpressions are not evaluated by this test");
  return Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

export const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ""]));

/** A probe's or policy's port (a number or a container port's name) as a number. */
export function portNumber(c: Container, port: number | string): number {
  if (typeof port === "number") return port;
  const p = c.ports?.find((x) => x.name === port);
  assert.ok(p, `${c.name} has no port named ${port}`);
  return p.containerPort;
}

/** Memory quantities as bytes ("160Mi", "1Gi", "512M"). */
export function bytes(q: string | number): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(String(q));
  assert.ok(m, `quantity ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
}

/** The builds to check: what kubectl makes, or else the base's own files. */
export const checkedSets = (): [string, () => Doc[]][] => (builds ? [["base", builds.base], ["k3s-pi", builds.pi]] : [["base files", () => baseFileDocs]]);

export const HEALTHCHECK = "scripts/healthcheck.mjs";
export const DOCKERFILE = readFileSync(join(root, "Dockerfile"), "utf8");

/** `kubectl -n NS create secret generic NAME --from-file=KEY=PATH...` commands in the README: NAME -> KEY -> PATH. */
export function readmeSecrets(): Map<string, Map<string, string>> {
  const text = README.replace(/\s*\\\n\s*/g, " ");
  const out = new Map<string, Map<string, string>>();
  for (const m of text.matchAll(/kubectl -n (\S+) create secret generic (\S+)((?: --from-file=\S+)+)/g)) {
    assert.equal(m[1], NAMESPACE, `${m[2]} is created in the namespace the pods are in`);
    out.set(m[2], new Map([...m[3].matchAll(/--from-file=([^=\s]+)=(\S+)/g)].map((f) => [f[1], f[2]])));
  }
  return out;
}

/** The Secret and key behind a file path in a container (a secret volume mounted above it). */
export function secretFile(w: Workload, path: string): { secret: string; key: string } {
  const mount = w.container.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${label(w.doc)}: ${path} lies on a mounted volume`);
  const secret = w.pod.volumes?.find((v) => v.name === mount.name)?.secret;
  assert.ok(secret && !secret.items, `${label(w.doc)}: ${path} comes from a Secret mounted whole`);
  return { secret: secret.secretName, key: path.slice(mount.mountPath.length + 1) };
}

/** The `npm run certs -- DIR --host SERVICE=NAME...` command in the README. */
export function readmeCertsCommand(): { dir: string; hosts: [string, string][] } {
  const m = /npm run certs -- (\S+)((?: --host \S+)+)/.exec(README.replace(/\s*\\\n\s*/g, " "));
  assert.ok(m, "the README shows how to make the certificates");
  return { dir: m[1], hosts: [...m[2].matchAll(/--host (\S+)=(\S+)/g)].map((h) => [h[1], h[2]]) };
}

/**
 * A container's environment on this machine: every file under a mounted
 * Secret becomes the file the README puts under that key, HOST loopback and
 * PORT left to the system (no fixed port is free here for sure).
 */
export function localEnv(w: Workload, certs: CertSet, dir: string): Record<string, string> {
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

