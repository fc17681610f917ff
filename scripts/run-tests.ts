// Runs every node:test suite (`*/test/**/*.test.ts`, and the cross-service
// end-to-end suites in `test/`) through tsx. Node 20's
// `--test` takes no globs, so the files are listed here. Arguments narrow the
// run to paths containing any of them: `npm run test:unit -- fortuna`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const roots = ["runtime/test", "controller/test", "fortuna/test", "gateway/test", "test"];
const filters = process.argv.slice(2);

function walk(dir: string): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const files = roots
  .flatMap((r) => {
    try {
      return walk(r);
    } catch {
      return [];
    }
  })
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], {
  stdio: "inherit",
});
process.exit(r.status ?? 1);
