// The compiled tree npm start runs (scripts/build.ts): it loads on plain node
// with its native addon and static files in reach, it is rebuilt exactly when
// a source changes, and concurrent starts agree on one build.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildInputs, ensureBuild, REPO_ROOT } from "../scripts/build.js";
import { nativeAddonSkip } from "../fortuna/test/native-addon.js";

const scratch = mkdtempSync(join(tmpdir(), "lokey-build-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

test("the build of this repository runs on plain node, with its addons and the dashboard's files in reach", async () => {
  const { dir } = await ensureBuild();
  // Loading the one-process entry pulls in the runtime, the certificate maker
  // and the stack's settings; an unknown service name stops it before it serves.
  const entry = spawnSync(process.execPath, [join(dir, "scripts/one-process.js"), "no-such-service"], { encoding: "utf8" });
  assert.equal(entry.status, 2, entry.stderr);
  assert.match(entry.stderr, /unknown service no-such-service/);
  const native = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", `const m = await import(${JSON.stringify(join(dir, "fortuna/src/native-blocks.js"))}); process.stdout.write(String(m.nativeBlocksError ?? "loaded"))`],
    { encoding: "utf8" },
  );
  // Without the addon here (an --ignore-scripts install), the build has none to carry.
  if (!nativeAddonSkip) assert.equal(native.stdout, "loaded", native.stderr);
  // The runtime's heap trimming (runtime/native), which every install builds.
  const trim = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", `const m = await import(${JSON.stringify(join(dir, "runtime/src/heap-trim.js"))}); process.stdout.write(m.startHeapTrimming().unavailable ?? "loaded")`],
    { encoding: "utf8" },
  );
  assert.equal(trim.stdout, "loaded", trim.stderr);
  assert.equal(readFileSync(join(dir, "gateway/src/dashboard/index.html"), "utf8"), readFileSync(join(REPO_ROOT, "gateway/src/dashboard/index.html"), "utf8"));
  // Each service's bundle loads whole, native addons included, and reads its
  // settings: a bad one stops it naming the variable.
  for (const service of ["controller", "fortuna", "gateway"]) {
    const run = spawnSync(process.execPath, [join(dir, `${service}/src/main.bundle.js`)], { encoding: "utf8", env: { ...process.env, PORT: "not-a-port" } });
    assert.notEqual(run.status, 0, `${service}: ${run.stderr}`);
    assert.match(run.stderr, /PORT/, `${service}: ${run.stderr}`);
  }
});

test("a build is made when missing or stale and reused otherwise; concurrent builds agree", async () => {
  // A copy of the sources, so that one of them can change.
  const root = join(scratch, "repo");
  for (const f of buildInputs()) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    copyFileSync(join(REPO_ROOT, f), join(root, f));
  }
  // The services' bundles take the installed packages from the copy's own node_modules.
  symlinkSync(join(REPO_ROOT, "node_modules"), join(root, "node_modules"));
  const [a, b] = await Promise.all([ensureBuild(root), ensureBuild(root)]);
  assert.equal(a.dir, b.dir);
  assert.ok(a.built || b.built);
  assert.deepEqual(readdirSync(join(root, "dist")), [a.dir.split("/").pop()], "no scratch tree left behind");
  assert.ok(existsSync(join(a.dir, "gateway/src/main.js")));
  assert.ok(existsSync(join(a.dir, "gateway/src/main.bundle.js")));

  assert.deepEqual(await ensureBuild(root), { dir: a.dir, built: false });

  appendFileSync(join(root, "runtime/src/log.ts"), "\nexport const staleProbe = 1;\n");
  const changed = await ensureBuild(root);
  assert.equal(changed.built, true);
  assert.notEqual(changed.dir, a.dir);
  assert.match(readFileSync(join(changed.dir, "runtime/src/log.js"), "utf8"), /staleProbe/);
  assert.doesNotMatch(readFileSync(join(a.dir, "runtime/src/log.js"), "utf8"), /staleProbe/);

  writeFileSync(join(root, "package-lock.json"), "{}\n");
  assert.notEqual((await ensureBuild(root)).dir, changed.dir, "a changed install (the bundles hold its code) is a new build");
});
