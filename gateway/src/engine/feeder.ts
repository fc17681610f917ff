// Keeps the queues filled from long-lived server streams, reconnecting with
// backoff. TRNG: every sample is stored (the store drops the oldest when
// full, keeping the freshest hardware data). Fortuna: while the queue is full
// we stop reading, so HTTP/2 flow control stops Fortuna generating.
import type { Logger } from "../../../runtime/src/index.js";
import type { RetryPolicy } from "./config.js";
import { pause } from "./lock.js";
import type { QueueStore } from "./queue-store.js";
import type { SourceName } from "./types.js";
import { originOf, withCallSignal, type Link, type Upstreams } from "./upstreams.js";

/** Most TRNG samples held in memory while a write is in flight before we stop reading. */
const MAX_PENDING_ITEMS = 4096;
/**
 * Fortuna stream message size we ask for, whatever the item size: per-message
 * costs dominate small messages (1 KiB messages moved ~1 MB/s on loopback,
 * 64 KiB ones ~20x more), so messages are cut into items here instead.
 */
export const FORTUNA_STREAM_CHUNK_BYTES = 65536;

/**
 * Group commit: items arriving while a write is in flight go into the next
 * batch, so a fast stream costs one RocksDB write per batch, not per item.
 */
class Batcher {
  private pending: Uint8Array[] = [];
  private inFlight = 0;
  private polls = 0;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly store: QueueStore,
    private readonly source: SourceName,
    private readonly log: Logger,
  ) {}

  /** Items received but not yet counted by the store. */
  get size(): number {
    return this.pending.length + this.inFlight;
  }

  push(items: Uint8Array[], polls = 1): void {
    for (const item of items) this.pending.push(item);
    this.polls += polls;
    // Nothing to write (a feeder whose room another filled): starting a drain
    // now would end synchronously and leave `writing` set to a settled
    // promise for good, which flushed() would spin on.
    if (this.pending.length > 0) this.writing ??= this.drain();
  }

  /** Resolves when everything pushed so far is written. */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const items = this.pending;
        const polls = this.polls;
        this.pending = [];
        this.polls = 0;
        this.inFlight = items.length;
        try {
          await this.store.enqueue(this.source, items, polls);
        } catch (err) {
          this.log.error("storing received items failed; they are lost", { source: this.source, items: items.length, error: err });
        } finally {
          this.inFlight = 0;
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}

interface Progress {
  delivered: boolean;
}

/** Runs `connect` until `signal` aborts, waiting with exponential backoff between attempts that delivered nothing. */
async function reconnecting(link: Link, retry: RetryPolicy, signal: AbortSignal, log: Logger, connect: (p: Progress) => Promise<void>): Promise<void> {
  let wait = retry.minMs;
  while (!signal.aborted) {
    const progress: Progress = { delivered: false };
    try {
      await connect(progress);
      if (!signal.aborted) link.failed(new Error("stream ended by the server"));
    } catch (err) {
      if (signal.aborted) break;
      link.failed(err);
      log.warn("upstream stream failed", { address: link.address, error: err });
    }
    link.streaming = false;
    if (progress.delivered) wait = retry.minMs;
    await pause(wait, signal, link.wake);
    wait = Math.min(wait * 2, retry.maxMs);
  }
  link.streaming = false;
}

export function feedTrng(store: QueueStore, up: Upstreams, retry: RetryPolicy, signal: AbortSignal, log: Logger): Promise<void> {
  const link = up.controllerLink;
  const batcher = new Batcher(store, "trng", log);
  return reconnecting(link, retry, signal, log, async (progress) => {
    try {
      const info = await withCallSignal(signal, (s) => up.controller.getInfo({}, { signal: s }));
      up.trngOrigin = originOf(info.source);
      link.up();
      for await (const msg of up.controller.streamSamples({}, { signal })) {
        progress.delivered = link.streaming = true;
        link.up();
        up.trngOrigin = originOf(msg.source);
        batcher.push([msg.data]);
        if (batcher.size >= MAX_PENDING_ITEMS) await batcher.flushed();
      }
    } finally {
      await batcher.flushed();
    }
  });
}

export function feedFortuna(
  store: QueueStore,
  f: Upstreams["fortuna"][number],
  itemBytes: number,
  retry: RetryPolicy,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const batcher = new Batcher(store, "fortuna", log);
  const room = store.room("fortuna");
  // Counts what is still being written too, or we would overfill.
  const hasRoom = () => store.counters("fortuna").items + BigInt(batcher.size) < BigInt(store.queueSizes().fortuna);
  const waitForRoom = async () => {
    while (!hasRoom()) {
      const w = room.waiter(signal);
      await batcher.flushed();
      if (hasRoom()) {
        w.cancel();
        return;
      }
      await w.fired;
    }
  };
  // Whole items per message; with items larger than the chunk, one item per message.
  const chunkSize = itemBytes * Math.max(1, Math.floor(FORTUNA_STREAM_CHUNK_BYTES / itemBytes));
  return reconnecting(f.link, retry, signal, log, async (progress) => {
    try {
      await waitForRoom();
      for await (const msg of f.client.streamRandom({ chunkSize }, { signal })) {
        progress.delivered = f.link.streaming = true;
        f.link.up();
        // Store only what fits, so a message of many items never pushes out
        // queued ones; the rest waits here for room (counted as one poll).
        let at = 0;
        let polls = 1;
        while (at < msg.data.length) {
          await waitForRoom();
          const room = Number(BigInt(store.queueSizes().fortuna) - store.counters("fortuna").items) - batcher.size;
          const items: Uint8Array[] = [];
          for (; at < msg.data.length && items.length < room; at += itemBytes) items.push(msg.data.subarray(at, at + itemBytes));
          batcher.push(items, polls);
          polls = 0;
        }
        // Not pulling the next message is the flow control.
        await waitForRoom();
      }
    } finally {
      await batcher.flushed();
    }
  });
}
