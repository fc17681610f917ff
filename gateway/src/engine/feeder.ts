// Keeps the queues filled from long-lived server streams, reconnecting with
// back-off. Each stream message goes to the store whole (queue-store.ts,
// enqueue), which cuts it into items and stores it in one batch. While a
// queue is full its feeds stop reading: once the receive window is full,
// HTTP/2 flow control stops the upstream (the controller's harvest pauses,
// Fortuna stops generating), so a full, idle gateway writes nothing to disk
// (no idle wear); reading resumes when room() fires (gateway/README.md,
// "Feeding the queues").
import type { EntropySource } from "../../../gen/lokey/controller/v1/controller_pb.js";
import { Backoff, type Logger } from "../../../runtime/src/index.js";
import type { RetryPolicy } from "./config.js";
import { TRNG_ITEM_BYTES } from "./disk-space.js";
import { pause } from "./lock.js";
import type { Enqueued, QueueStore } from "./queue-store.js";
import type { SourceName } from "./types.js";
import { withCallSignal, type Link } from "./upstreams.js";

/**
 * Fortuna stream message size we ask for, whatever the item size: per-message
 * costs dominate small messages (1 KiB messages moved ~1 MB/s on loopback,
 * 64 KiB ones ~20x more), so a message carries many items.
 */
export const FORTUNA_STREAM_CHUNK_BYTES = 65536;

/** One controller as its TRNG feed uses it (controllers.ts, ControllerMember). */
export interface TrngUpstream {
  readonly link: Link;
  readonly client: {
    getInfo(req: object, opts: { signal?: AbortSignal }): Promise<{ source: EntropySource; serialNumber?: string }>;
    streamSamples(req: object, opts: { signal: AbortSignal }): AsyncIterable<{ data: Uint8Array; source: EntropySource }>;
  };
  /** Takes what GetInfo and each sample say about the chip. */
  described(info: { source: EntropySource; serialNumber?: string }): void;
  /** Samples of its stream handed to the TRNG queue. */
  delivered: bigint;
}

/** One Fortuna instance as its feed uses it (upstreams.ts, FortunaMember). */
export interface FortunaUpstream {
  readonly link: Link;
  readonly client: { streamRandom(req: { chunkSize: number }, opts: { signal: AbortSignal }): AsyncIterable<{ data: Uint8Array }> };
}

interface Progress {
  delivered: boolean;
}

/** Runs `connect` until `signal` aborts, waiting with exponential back-off between attempts that delivered nothing. */
async function reconnecting(link: Link, retry: RetryPolicy, signal: AbortSignal, log: Logger, connect: (p: Progress) => Promise<void>): Promise<void> {
  const backoff = new Backoff(retry);
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
    if (progress.delivered) backoff.reset();
    await pause(backoff.next(), signal, link.wake);
  }
  link.streaming = false;
}

/** Resolves once `source`'s queue has room; not reading meanwhile is what pushes back on the upstream. */
async function untilRoom(store: QueueStore, source: SourceName, signal: AbortSignal): Promise<void> {
  // No await between the look and the wait: a room() fire can't slip between.
  while (store.isFull(source)) await store.room(source).wait(signal);
}

/**
 * Hands one message (or its rest) to the store, not waiting for its write:
 * the next message can share it (group-commit.ts). A failure loses the
 * message, logged; the stream goes on.
 */
async function store(into: QueueStore, source: SourceName, data: Uint8Array, itemBytes: number, polls: number, log: Logger, signal: AbortSignal): Promise<Enqueued | undefined> {
  // During a storage fault the engine reports it once; the feed stops reading until it is over.
  const fault = into.storage.fault;
  const lost = (err: unknown) => {
    if (fault.reason === undefined) log.error("storing a received message failed; it is lost", { source, bytes: data.length, error: err });
  };
  try {
    const got = await into.enqueue(source, data, itemBytes, polls);
    got.written.catch(lost);
    return got;
  } catch (err) {
    if (!(await fault.waitOut(err, signal))) lost(err);
    return undefined;
  }
}

/**
 * One controller's samples into the TRNG queue. A message arriving at a full
 * queue (from the flow-control window, or a queue just shrunk) pushes the
 * oldest sample out (source-queue.ts, OVERFLOW); then the feed waits for room.
 */
export function feedTrng(into: QueueStore, controller: TrngUpstream, retry: RetryPolicy, signal: AbortSignal, log: Logger): Promise<void> {
  const { link, client } = controller;
  return reconnecting(link, retry, signal, log, async (progress) => {
    controller.described(await withCallSignal(signal, (s) => client.getInfo({}, { signal: s })));
    link.up();
    for await (const msg of client.streamSamples({}, { signal })) {
      progress.delivered = link.streaming = true;
      link.up();
      controller.described(msg);
      if (await store(into, "trng", msg.data, TRNG_ITEM_BYTES, 1, log, signal)) controller.delivered++;
      await untilRoom(into, "trng", signal);
    }
  });
}

/**
 * One Fortuna instance's stream into the Fortuna queue. The store takes only
 * what fits, so a message of many items never pushes queued ones out; its
 * rest waits here for room (counted as one poll), and the next message is
 * not read before there is room again.
 */
export function feedFortuna(
  into: QueueStore,
  fortuna: FortunaUpstream,
  itemBytes: number,
  retry: RetryPolicy,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const { link, client } = fortuna;
  // Whole items per message; with items larger than the chunk, one item per message.
  const chunkSize = itemBytes * Math.max(1, Math.floor(FORTUNA_STREAM_CHUNK_BYTES / itemBytes));
  return reconnecting(link, retry, signal, log, async (progress) => {
    await untilRoom(into, "fortuna", signal);
    for await (const msg of client.streamRandom({ chunkSize }, { signal })) {
      progress.delivered = link.streaming = true;
      link.up();
      let rest = msg.data;
      for (let polls = 1; rest.length > 0; polls = 0) {
        await untilRoom(into, "fortuna", signal);
        const got = await store(into, "fortuna", rest, itemBytes, polls, log, signal);
        if (!got) break;
        rest = rest.subarray(got.taken);
      }
      await untilRoom(into, "fortuna", signal);
    }
  });
}
