import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { QueueStore } from "../../src/engine/queue-store.js";
import { balanced, tempDir, TEST_KEY, wordsOf } from "./helpers.js";

const child = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url));

function servedWords(logPath: string): number[] {
  if (!existsSync(logPath)) return [];
  return readFileSync(logPath, "utf8")
    .split("\n")
    .filter((l) => /^[0-9a-f]+$/.test(l))
    .flatMap((l) => wordsOf(Buffer.from(l, "hex")));
}

async function runAndKill(dbPath: string, logPath: string, firstWord: number, servedAtLeast: number): Promise<void> {
  const p = spawn(process.execPath, ["--import", "tsx", child, dbPath, logPath, String(firstWord)], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  const before = servedWords(logPath).length;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`child exited early with ${p.exitCode}`);
    if (servedWords(logPath).length >= before + servedAtLeast) break;
    await sleep(10);
  }
  await sleep(Math.floor(Math.random() * 30));
  p.kill("SIGKILL");
  await exited;
}

test("SIGKILL while writing: after reopening, queues and counters agree and nothing served is served again", { timeout: 120_000 }, async () => {
  const dir = tempDir("crash");
  const dbPath = join(dir.path, "db");
  const logPath = join(dir.path, "served.log");
  try {
    for (let round = 0; round < 3; round++) {
      await runAndKill(dbPath, logPath, round * 100_000_000, 200);
      const store = await QueueStore.open(dbPath, { sizes: { trng: 64, fortuna: 64 }, consume: true }, { key: TEST_KEY });
      try {
        const c = store.counters("trng");
        const items = await store.items("trng");
        assert.equal(c.items, BigInt(items.length), "item counter matches the stored items");
        assert.ok(balanced(c), "total = queued + consumed + dropped");
        assert.ok(items.every((i) => i.id < c.next_id), "ids below next_id");
        assert.ok(items.length <= 64);
        const served = servedWords(logPath);
        assert.equal(new Set(served).size, served.length, "a word was served twice before the crash");
        const servedSet = new Set(served);
        const queued = items.flatMap((i) => wordsOf(i.data));
        assert.ok(queued.every((w) => !servedSet.has(w)), "a served word is back in the queue");
        // And serving what is left after the crash hands out nothing served before it.
        if (round === 2) {
          const rest = await store.take("trng", queued.length * 4, 0, { consume: true });
          assert.ok(wordsOf(rest!).every((w) => !servedSet.has(w)));
          assert.equal(store.counters("trng").items, 0n);
        }
      } finally {
        await store.close();
      }
    }
  } finally {
    dir.remove();
  }
});
