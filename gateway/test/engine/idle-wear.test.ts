// No idle wear (gateway/README.md, "Feeding the queues"): with both queues
// full and nobody reading, the gateway stops reading its upstream streams and
// writes (almost) nothing. The three real services run as processes; the
// gateway's own writes to storage come from /proc/<pid>/io (write_bytes,
// counted when a write dirties the page cache, flushed to disk yet or not).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { gatewayWriteRate, IDLE_WRITE_BYTES_PER_S, startServices, type QueueState, type Services } from "./service-processes.js";
/** The measured window: the old behaviour (a rewrite per TRNG sample, ~2-8 KB/s) shows several times over in it. */
const WINDOW_MS = 10_000;
// Liveness bounds, not performance targets: generous for a loaded 2-core machine.
const START_BOUND_MS = 90_000;
const REFILL_BOUND_MS = 60_000;

let services: Services;
before(async () => {
  services = await startServices({ TRNG_QUEUE_SIZE: "20", FORTUNA_QUEUE_SIZE: "40" });
});
after(() => services.stop());

test("full queues, nobody reading: the gateway writes under 1 KB/s, and harvesting resumes on room", { timeout: 240_000 }, async () => {
  await services.until("both queues full", () => services.full(), START_BOUND_MS);
  const { bytes, seconds } = await gatewayWriteRate(services, WINDOW_MS);
  const budget = IDLE_WRITE_BYTES_PER_S * seconds;
  assert.ok(bytes <= budget, `the idle gateway wrote ${bytes} bytes in ${seconds.toFixed(1)} s (${(bytes / seconds).toFixed(0)} B/s; budget ${budget.toFixed(0)} bytes)`);
  assert.ok(await services.full(), "the queues stayed full");

  // Room again: both streams are read again, and the queues refill with newly received items.
  const received = (q: QueueState) => BigInt(q.total_generated);
  const idle = await services.queues();
  for (const [source, bytes] of [["trng", 5 * 32], ["fortuna", 1024]] as const) {
    const res = await fetch(`${services.base}/api/v1/data`, { method: "POST", body: JSON.stringify({ format: "uint8", limit: bytes, source }) });
    assert.equal(res.status, 200, `${source}: ${await res.text()}`);
  }
  await services.until("both queues refilled from their streams", async () => {
    const q = await services.queues();
    return (await services.full()) && received(q.trng) >= received(idle.trng) + 5n && received(q.fortuna) > received(idle.fortuna);
  }, REFILL_BOUND_MS);
});
