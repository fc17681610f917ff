/** One line of the `npm run bench` table: a figure beside the baseline measured in the same run. */
export interface BenchRow {
  /** What was measured, e.g. "FortunaGenerator.pseudoRandomData 1 MiB". */
  name: string;
  /** The measured figure (higher is better unless `lowerIsBetter`). */
  value: number;
  unit: string;
  /** What the figure is compared with, e.g. "aes-256-ctr stream". */
  baselineName: string;
  baseline: number;
  /** The ratio value/baseline the issue asks for, if any (informational, never a failure). */
  target?: number;
  lowerIsBetter?: boolean;
}

/** A benchmark module's default export. */
export type Bench = () => Promise<BenchRow[]>;

/** Runs `fn` repeatedly for about `ms` milliseconds and returns operations per second. */
export async function opsPerSecond(fn: () => unknown | Promise<unknown>, ms = 1000): Promise<number> {
  for (let i = 0; i < 3; i++) await fn(); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    await fn();
    n++;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}
