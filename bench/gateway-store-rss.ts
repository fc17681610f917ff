// Helper process for gateway-store.bench.ts: prints its RSS either idle or
// after filling the queue store to the default capacities and reading them.
import { QueueStore } from "../gateway/src/engine/queue-store.js";

const [mode, path] = process.argv.slice(2);
if (mode === "full") {
  const store = await QueueStore.open(path, { sizes: { trng: 1000, fortuna: 5000 }, consume: true });
  const item = (n: number) => {
    const b = Buffer.alloc(n);
    crypto.getRandomValues(b);
    return b;
  };
  // TRNG samples one a message, Fortuna items 64 a message, as the streams deliver them.
  for (let i = 0; i < 1000; i++) await store.enqueue("trng", item(32), 32);
  for (let i = 0; i < 5000; i += 64) await store.enqueue("fortuna", item(64 * 1024), 1024);
  // Read everything once without consuming, as a full scan by clients would.
  await store.take("trng", 1000 * 32, 0, { consume: false });
  await store.take("fortuna", 5000 * 1024, 0, { consume: false });
}
global.gc?.();
process.stdout.write(`rss=${process.memoryUsage().rss}\n`);
process.exit(0);
