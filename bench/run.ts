// Runs every bench/*.bench.ts (or those whose name contains an argument) and
// prints one table: each figure beside its same-run baseline and their ratio.
// Benchmarks inform; they never fail the build.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Bench, BenchRow } from "./types.js";

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3));
const rows: (BenchRow & { file: string })[] = [];
for (const f of files) {
  process.stderr.write(`running ${f}...\n`);
  const mod = (await import(join(here, f))) as { default: Bench };
  try {
    for (const r of await mod.default()) rows.push({ ...r, file: f });
  } catch (err) {
    console.error(`${f} failed:`, err);
  }
}

const table = rows.map((r) => {
  const ratio = r.lowerIsBetter ? r.baseline / r.value : r.value / r.baseline;
  const verdict = r.target === undefined ? "" : ratio >= r.target ? `>= ${r.target} ok` : `< ${r.target} MISSED`;
  return [r.name, `${fmt(r.value)} ${r.unit}`, r.baselineName, `${fmt(r.baseline)} ${r.unit}`, ratio.toFixed(3), verdict];
});
const head = ["benchmark", "value", "baseline", "baseline value", "ratio", "target"];
const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i])).join(" | ");
console.log(line(head));
console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
for (const row of table) console.log(line(row));
process.exit(0);
