// Every object in deploy/kubernetes validates offline against the Kubernetes
// API schemas bundled in kubernetes-models, and type-checks against that
// package's declarations, because the JSON schemas accept unknown fields and
// a misspelt `readOnlyRootFileSystem` would otherwise pass unnoticed. With
// kubectl on the path, what `kubectl kustomize` builds is checked too (the
// base, the k3s-pi overlay, the privileged variant); without it, the files.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { builds, fileDocs, kustomization, kustomizationDirs, label, NO_KUBECTL, rel, root, type Doc, type K8sObject } from "./manifests.js";

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
