// Copies the third-party .proto files LoKey imports or serves out of their npm
// packages into build/proto-deps, so `buf` resolves them with no network and
// no remote modules. The copies are build output (git-ignored), not sources.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const root = join(dirname(new URL(import.meta.url).pathname), "..");
const out = join(root, "build", "proto-deps");

/** [npm package, path inside the package, import path the protos use] */
const deps: [string, string, string][] = [
  ["google-proto-files", "google/api/annotations.proto", "google/api/annotations.proto"],
  ["google-proto-files", "google/api/http.proto", "google/api/http.proto"],
  // google.rpc.RetryInfo, the detail a RESOURCE_EXHAUSTED answer carries (gateway quotas).
  ["google-proto-files", "google/rpc/error_details.proto", "google/rpc/error_details.proto"],
  ["grpc-health-check", "proto/health/v1/health.proto", "grpc/health/v1/health.proto"],
  ["@grpc/reflection", "build/proto/grpc/reflection/v1/reflection.proto", "grpc/reflection/v1/reflection.proto"],
  ["@grpc/reflection", "build/proto/grpc/reflection/v1alpha/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"],
];

for (const [pkg, inside, target] of deps) {
  const pkgRoot = dirname(require.resolve(`${pkg}/package.json`));
  const dest = join(out, target);
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(join(pkgRoot, inside), dest);
}
console.log(`vendored ${deps.length} protos into ${out}`);
