// Test helpers for /metrics: reading a value out of the Prometheus text
// format, and `promtool check metrics` (Debian package prometheus) where it
// is installed.
import { spawnSync } from "node:child_process";

/** Label pairs of one sample line: `name{a="x",b="y"} 1`. */
function labelsOf(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (text ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  return out;
}

/** The sum of the samples of `name` whose labels include `labels`; 0 when there is none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = labelsOf(m[2]);
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Whether any sample of `name` has these labels. */
export function hasSeries(text: string, name: string, labels: Record<string, string> = {}): boolean {
  return text.split("\n").some((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+/.exec(line);
    if (!m || m[1] !== name) return false;
    const have = labelsOf(m[2]);
    return Object.entries(labels).every(([k, v]) => have[k] === v);
  });
}

const probe = spawnSync("promtool", ["--version"], { encoding: "utf8" });
/** Set when promtool cannot run: the reason a test skips. */
export const promtoolMissing: string | false = probe.error || probe.status !== 0 ? "promtool is not installed (Debian package prometheus)" : false;

/** promtool's verdict on an exposition: its complaints, empty when it passes. */
export function promtoolProblems(exposition: string): string {
  const r = spawnSync("promtool", ["check", "metrics"], { input: exposition, encoding: "utf8" });
  return r.status === 0 ? "" : `${r.stdout}${r.stderr}`.trim() || `promtool exited with ${r.status}`;
}

/**
 * Polls `check` until it holds, at most `boundMs` (a liveness bound for a
 * loaded machine, not a timing claim); a check that throws has not held yet.
 */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, boundMs = 30_000): Promise<void> {
  const until = Date.now() + boundMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`not within ${boundMs} ms: ${what}${last ? ` (last error: ${String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
