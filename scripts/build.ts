// `npm run build [-- --out DIR]`: the services as plain JavaScript, so that
// production runs on bare `node` instead of `node --import tsx`, whose loader
// thread and in-process compiler cost ~35 MB per process (docs/performance.md,
// "Footprint"). tsx stays the development runner.
//
// Each TypeScript file is transpiled on its own (the sources are written for
// isolatedModules and import each other with .js specifiers, so no rewriting is
// needed) into the same relative path under the output, which keeps every
// `import.meta.url`-relative path working: static files next to the sources are
// copied, and the addons node-gyp builds (fortuna/native, runtime/native) are linked.
//
// Each service's entry is also bundled, with everything it imports (node_modules
// included, but the native addons), into <service>/src/main.bundle.js, which is
// what a service process runs: one module instead of ~300 saves ~4-5 MB per
// process (module records, their sources kept for lazy compilation, code no
// service calls; docs/performance.md, "Footprint"). The bundle sits beside its
// entry, so the paths its modules resolve against import.meta.url (Fortuna's
// addon, the dashboard's files) are still right. The one-process mode imports
// the per-file mains instead: three bundles would hold three runtimes.
//
// Without --out the output is content-addressed, dist/<hash of the inputs>/:
// `npm start` calls ensureBuild() and runs what it returns, building only when
// a source changed. Concurrent starts cannot see a half-written tree: each
// builds into a private directory and renames it into place.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as Esbuild from "esbuild";
import { SERVICES } from "./stack.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Folders whose every file is part of the running services (tests live beside them, under test/). */
const SOURCE_ROOTS = ["gen", "runtime/src", "controller/src", "fortuna/src", "gateway/src"];
/** Entry points outside them: the one-process mode and the certificate maker (the compose file's `certs` service). */
const SOURCE_FILES = ["scripts/one-process.ts", "scripts/stack.ts", "scripts/certs.ts"];
/** Folders the code reaches relative to itself that hold built artefacts rather than sources. */
const LINKED = ["fortuna/native", "runtime/native"];
/** A service's bundle in a compiled tree: what its process runs. */
export const serviceBundle = (service: string): string => `${service}/src/main.bundle.js`;
/** Loaded at run time through require(): native code, which no bundle can hold. */
const NATIVE = ["rocksdb", "i2c-bus", "*.node"];
/** Changing how files are emitted must change the hash too. */
const FORMAT = "esm-node20-v2-bundled-mains";
/** Older content-addressed builds are removed after this long (a starting process may still be reading one). */
const PRUNE_AFTER_MS = 10 * 60_000;

// The compiler tsx itself uses (a dependency of it), so the build adds no
// package: resolved through tsx, not hoisting.
const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"))("esbuild") as typeof Esbuild;

function walk(root: string, dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(root, join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Every input file, relative to `root`, in a stable order. */
export function buildInputs(root = REPO_ROOT): string[] {
  return [...SOURCE_ROOTS.flatMap((d) => walk(root, d)), ...SOURCE_FILES].filter((f) => !f.endsWith(".d.ts")).sort();
}

/** The content hash naming a build: the inputs' paths and bytes, the lock file, the compiler's version and the output format. */
function buildKey(root: string, inputs: string[]): string {
  const h = createHash("sha256").update(`${FORMAT}\0${esbuild.version}\0`);
  for (const f of inputs) h.update(`${f}\0`).update(readFileSync(join(root, f))).update("\0");
  // The bundles hold the installed packages' code too: a changed install is a new build.
  const lock = join(root, "package-lock.json");
  if (existsSync(lock)) h.update(readFileSync(lock));
  return h.digest("hex").slice(0, 16);
}

/** Each TypeScript input transpiled to its .js twin under `out`; other files copied as they are. */
async function transpile(root: string, inputs: string[], out: string): Promise<void> {
  await Promise.all(
    inputs.map(async (f) => {
      const source = readFileSync(join(root, f));
      const target = join(out, f.endsWith(".ts") ? f.slice(0, -3) + ".js" : f);
      mkdirSync(dirname(target), { recursive: true });
      if (!f.endsWith(".ts")) return writeFileSync(target, source);
      // No source maps: node would only use them under --enable-source-maps,
      // which keeps every map in memory; stack frames name the .js file, whose
      // path mirrors the .ts one.
      const { code } = await esbuild.transform(source.toString(), { loader: "ts", format: "esm", target: "node20", sourcefile: f });
      writeFileSync(target, code);
    }),
  );
}

/** Each service entry as one bundle beside its transpiled twin. */
async function bundleEntries(root: string, out: string): Promise<void> {
  await Promise.all(
    SERVICES.map(({ name }) =>
      esbuild.build({
        entryPoints: [join(root, `${name}/src/main.ts`)],
        outfile: join(out, serviceBundle(name)),
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        // Class and function names in logs and stack traces stay readable.
        keepNames: true,
        external: NATIVE,
        // The CommonJS packages inside an ES module bundle call require().
        banner: { js: 'import { createRequire as lokeyCreateRequire } from "node:module";\nconst require = lokeyCreateRequire(import.meta.url);' },
        logLevel: "error",
      }),
    ),
  );
}

/** Writes the compiled tree for `root`'s `inputs` under `out` (which must not exist yet). */
let emitting = 0;
async function emit(root: string, inputs: string[], out: string): Promise<void> {
  emitting++;
  try {
    await transpile(root, inputs, out);
    await bundleEntries(root, out);
  } finally {
    // esbuild's service process lives until stopped, and npm start outlives the build by days.
    if (--emitting === 0) await esbuild.stop();
  }
  for (const dir of LINKED) {
    mkdirSync(dirname(join(out, dir)), { recursive: true });
    symlinkSync(relative(dirname(join(out, dir)), join(root, dir)), join(out, dir), "dir");
  }
  // The tree says it is ES modules itself, wherever it is copied (an image
  // need not carry the repository's package.json).
  writeFileSync(join(out, "package.json"), '{ "type": "module" }\n');
}

/** A private name beside `path`: concurrent builds, even in one process, never share one. */
const scratch = (path: string) => `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;

/** Builds into `out`, replacing what is there (images and installs: a fixed path to start from). */
export async function buildTo(out: string, root = REPO_ROOT): Promise<void> {
  const tmp = scratch(out);
  await emit(root, buildInputs(root), tmp);
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

/** Removes builds (and abandoned scratch trees) unused for a while, but never `keep`. */
function prune(dist: string, keep: string): void {
  const now = Date.now();
  for (const name of readdirSync(dist)) {
    const p = join(dist, name);
    if (p !== keep && now - statSync(p).mtimeMs > PRUNE_AFTER_MS) rmSync(p, { recursive: true, force: true });
  }
}

export interface Build {
  /** Absolute path of the compiled tree (mirrors the repository's layout). */
  dir: string;
  /** false when an up-to-date build was already there. */
  built: boolean;
}

/** The compiled tree for the current sources of `root` under its dist/, built first if missing or stale. */
export async function ensureBuild(root = REPO_ROOT): Promise<Build> {
  const dist = join(root, "dist");
  const inputs = buildInputs(root);
  const dir = join(dist, buildKey(root, inputs));
  if (existsSync(dir)) {
    // Recently used, so a concurrent build's prune leaves it alone (best
    // effort: a read-only install has nothing pruning it).
    const now = new Date();
    try {
      utimesSync(dir, now, now);
    } catch {
      /* not ours to touch */
    }
    return { dir, built: false };
  }
  const tmp = scratch(dir);
  await emit(root, inputs, tmp);
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another start built the same sources meanwhile: theirs is identical.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw err;
  }
  prune(dist, dir);
  return { dir, built: true };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--out");
  if (at >= 0 && !args[at + 1]) {
    console.error("usage: npm run build [-- --out DIR]");
    process.exit(1);
  }
  const out = at >= 0 ? resolve(args[at + 1]) : undefined;
  if (out) await buildTo(out);
  const dir = out ?? (await ensureBuild()).dir;
  console.log(`compiled JavaScript in ${relative(process.cwd(), dir) || "."}/`);
}
