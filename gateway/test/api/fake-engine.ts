// An in-memory GatewayEngine with the contract's semantics (all-or-nothing
// take, delete-on-read switch, takeSome waiting for data) and test knobs:
// feed exact bytes, fail the next queue-config change, flip dependency health.
import { randomBytes } from "node:crypto";
import { Gauge, Registry } from "prom-client";
import type { EngineHealth, EngineStatus, GatewayEngine, QueueSizes, QueueStatus, SourceName } from "../../src/engine/types.js";

const ITEM_BYTES = 32;

interface Queue {
  bytes: Buffer;
  consumed: bigint;
  served: bigint;
  generated: bigint;
  dropped: bigint;
}

export class FakeEngine implements GatewayEngine {
  readonly queues: Record<SourceName, Queue> = {
    trng: { bytes: Buffer.alloc(0), consumed: 0n, served: 0n, generated: 0n, dropped: 0n },
    fortuna: { bytes: Buffer.alloc(0), consumed: 0n, served: 0n, generated: 0n, dropped: 0n },
  };
  sizes: QueueSizes = { trng: 1000, fortuna: 1000 };
  consume = true;
  healthState: EngineHealth = { controller: true, fortuna: true, database: true, seeded: true };
  /** What status lists as the chips and Fortuna instances. */
  upstreams: Pick<EngineStatus, "chips" | "fortunaInstances"> = { chips: [], fortunaInstances: [] };
  failNextQueueConfig = false;
  /** Sources that never run dry (benchmarks): shortfalls are filled from the OS CSPRNG. */
  endless = new Set<SourceName>();
  readonly metrics = new Registry();
  closed = false;
  private waiters: (() => void)[] = [];

  constructor() {
    for (const s of ["trng", "fortuna"] as const) {
      const self = this;
      const g = (name: string, help: string, value: () => number) =>
        new Gauge({ name: `${s}_${name}`, help, registers: [this.metrics], collect() { this.set(value()); } });
      g("queue_current", "items queued", () => self.current(s));
      g("queue_capacity", "queue capacity in items", () => self.sizes[s]);
      g("queue_percentage", "queue fill", () => (100 * self.current(s)) / self.sizes[s]);
      g("consumed", "items consumed", () => Number(self.queues[s].consumed) / ITEM_BYTES);
      g("unconsumed", "items unconsumed", () => self.current(s));
    }
    const self = this;
    new Gauge({ name: "database_size_bytes", help: "db size", registers: [this.metrics], collect() { this.set(self.queues.trng.bytes.length + self.queues.fortuna.bytes.length); } });
    new Gauge({ name: "gateway_bytes_served_total", help: "bytes served", labelNames: ["source"], registers: [this.metrics], collect() {
      for (const s of ["trng", "fortuna"] as const) this.set({ source: s }, Number(self.queues[s].served));
    } });
  }

  feed(source: SourceName, bytes: Uint8Array): void {
    const q = this.queues[source];
    q.bytes = Buffer.concat([q.bytes, bytes]);
    q.generated += BigInt(bytes.length);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  available(source: SourceName): number {
    return this.queues[source].bytes.length;
  }

  private current(s: SourceName): number {
    return Math.ceil(this.queues[s].bytes.length / ITEM_BYTES);
  }

  private topUp(source: SourceName, bytes: number): void {
    const short = bytes - this.queues[source].bytes.length;
    if (this.endless.has(source) && short > 0) this.feed(source, randomBytes(short));
  }

  async take(source: SourceName, bytes: number, offsetBytes: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    signal?.throwIfAborted();
    this.topUp(source, bytes + offsetBytes);
    const q = this.queues[source];
    if (q.bytes.length < offsetBytes + bytes) return null;
    const out = Uint8Array.from(q.bytes.subarray(offsetBytes, offsetBytes + bytes));
    q.served += BigInt(bytes);
    if (this.consume) {
      q.bytes = Buffer.concat([q.bytes.subarray(0, offsetBytes), q.bytes.subarray(offsetBytes + bytes)]);
      q.consumed += BigInt(bytes);
    }
    return out;
  }

  /** takeSome calls in progress (a stream whose client left must not keep one). */
  pendingTakeSome = 0;
  private streamSignals = new Set<AbortSignal>();

  /**
   * Resolves once every stream that called takeSome has been aborted and no
   * take is in progress: from then on no stream can consume anything.
   */
  async streamsStopped(): Promise<void> {
    while (this.pendingTakeSome > 0 || [...this.streamSignals].some((s) => !s.aborted)) await new Promise((r) => setTimeout(r, 5));
  }

  async takeSome(source: SourceName, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
    this.streamSignals.add(signal);
    this.pendingTakeSome++;
    try {
      return await this.takeSomeNow(source, maxBytes, signal);
    } finally {
      this.pendingTakeSome--;
    }
  }

  private async takeSomeNow(source: SourceName, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
    for (;;) {
      signal.throwIfAborted();
      this.topUp(source, maxBytes);
      const q = this.queues[source];
      if (q.bytes.length > 0) {
        const n = Math.min(maxBytes, q.bytes.length);
        const out = Uint8Array.from(q.bytes.subarray(0, n));
        q.bytes = q.bytes.subarray(n);
        q.consumed += BigInt(n);
        return out;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.waiters.push(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  private queueStatus(s: SourceName): QueueStatus {
    const q = this.queues[s];
    const current = this.current(s);
    return {
      pollingCount: 7n,
      queueCurrent: current,
      queueCapacity: this.sizes[s],
      queuePercentage: (100 * current) / this.sizes[s],
      queueDropped: q.dropped,
      consumedCount: q.consumed / BigInt(ITEM_BYTES),
      unconsumedCount: BigInt(current),
      totalGenerated: q.generated / BigInt(ITEM_BYTES),
      origin: s === "trng" ? "emulator" : "fortuna",
      connected: true,
    };
  }

  async status(): Promise<EngineStatus> {
    return {
      trng: this.queueStatus("trng"),
      fortuna: this.queueStatus("fortuna"),
      database: { sizeBytes: 10485760n, sizeHuman: "10.0 MB", path: "/tmp/fake-db", encryption: "aes-256-ctr, key in memory only (queues dropped on restart)" },
      ...this.upstreams,
    };
  }

  health(): EngineHealth {
    return { ...this.healthState };
  }

  getQueueConfig(): QueueSizes {
    return { ...this.sizes };
  }

  async setQueueConfig(sizes: Partial<QueueSizes>): Promise<QueueSizes> {
    if (this.failNextQueueConfig) {
      this.failNextQueueConfig = false;
      throw new Error("disk full");
    }
    this.sizes = { ...this.sizes, ...sizes };
    return this.getQueueConfig();
  }

  getConsume(): boolean {
    return this.consume;
  }

  async setConsume(consume: boolean): Promise<boolean> {
    this.consume = consume;
    return consume;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
