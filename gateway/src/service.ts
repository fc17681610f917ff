// GatewayService over a GatewayEngine: the engine deals in bytes, this layer
// turns them into the documented values, shapes and errors. Field limits,
// required fields and defaults are the proto's rules, applied by the runtime
// before a handler runs (runtime/src/rules.ts): a handler sees a request that
// obeys them, and only checks what no rule can say (min <= max).
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  Encoding,
  GatewayService,
  Source,
  type GetDataResponse,
  type GetMetricsResponse,
  type StreamDataResponse,
} from "../../gen/lokey/v1/gateway_pb.js";
import { allSent, bind, invalidArgument, peerOf, readyToSend, rfc3339, silentLogger, type Logger, type ServiceBinding } from "../../runtime/src/index.js";
import type { GatewayEngine, QueueStatus, SourceName } from "./engine/types.js";
import { decodeValues, formatInfo, valuesJson } from "./formats.js";
import { healthReport } from "./health.js";
import { candidatesFor, planRange, sampleIntegers } from "./integers.js";
import { Quotas, type Charge } from "./quota/quotas.js";
import { UUID_BYTES, uuidsV4 } from "./uuids.js";

export const NO_DATA = "No data available";
export const QUEUE_CONFIG_FAILED = "Failed to update queue configuration";

export interface GatewayBindingOptions {
  /** Clock for health timestamps (tests). */
  now?: () => Date;
  /** Per-client quotas on the data methods (main.ts reads them from QUOTA_*); unset: none. */
  quotas?: Quotas;
  /** Where config changes are logged. */
  log?: Logger;
}

// `source` is required: the rules let only these two through.
const SOURCE_NAMES: Record<Source.TRNG | Source.FORTUNA, SourceName> = { [Source.TRNG]: "trng", [Source.FORTUNA]: "fortuna" };
const sourceName = (source: Source): SourceName => SOURCE_NAMES[source as Source.TRNG | Source.FORTUNA];

function queueStatus(q: QueueStatus) {
  return {
    pollingCount: q.pollingCount,
    queueCurrent: BigInt(q.queueCurrent),
    queueCapacity: BigInt(q.queueCapacity),
    queuePercentage: q.queuePercentage,
    queueDropped: q.queueDropped,
    consumedCount: q.consumedCount,
    unconsumedCount: q.unconsumedCount,
    totalGenerated: q.totalGenerated,
    origin: q.origin,
    connected: q.connected,
  };
}

export function createGatewayBinding(engine: GatewayEngine, opts: GatewayBindingOptions = {}): ServiceBinding {
  const now = opts.now ?? (() => new Date());
  const quotas = opts.quotas ?? Quotas.off();
  const log = opts.log ?? silentLogger;

  /** All or nothing: the bytes, or NOT_FOUND with nothing consumed (and the quota's bytes given back). */
  async function takeAll(source: Source, bytes: number, offsetBytes: number, signal: AbortSignal, charge: Charge): Promise<Uint8Array> {
    let data: Uint8Array | null;
    try {
      data = await engine.take(sourceName(source), bytes, offsetBytes, signal);
    } catch (err) {
      charge.refund(bytes);
      // An unreachable Fortuna behind a short queue is, to the caller, the
      // documented "not enough random data" (nothing was consumed); other
      // failures (the database; UNAVAILABLE: a storage fault) stay errors.
      if (err instanceof ConnectError && err.code !== Code.Unavailable && !signal.aborted) throw new ConnectError(NO_DATA, Code.NotFound, undefined, undefined, err);
      throw err;
    }
    if (!data) {
      charge.refund(bytes);
      throw new ConnectError(NO_DATA, Code.NotFound);
    }
    return data;
  }

  /** Every accepted config write leaves a trace: what, from what to what, and who (docs/security.md). */
  const configChanged = (ctx: HandlerContext, setting: string, from: unknown, to: unknown) =>
    log.info("config changed", { setting, from, to, client: peerOf(ctx).address });

  /** The quota check, before anything is taken: a refusal consumes nothing. */
  const admit = (source: Source, bytes: number, ctx: HandlerContext) => quotas.admit(ctx, sourceName(source), bytes);

  return bind(
    GatewayService,
    {
      async getData(req, ctx) {
        const f = formatInfo(req.format);
        const bytes = req.limit * f.size;
        const data = await takeAll(req.source, bytes, req.offset * f.size, ctx.signal, admit(req.source, bytes, ctx));
        // REST renders the array straight from `data`; decoding to bigints
        // there too would only be thrown away.
        if (f.binary || ctx.protocolName === "rest") return { format: req.format, data };
        const values = decodeValues(f, data);
        return f.signed ? { format: req.format, data, signedValues: values } : { format: req.format, data, unsignedValues: values };
      },

      getHealth() {
        const r = healthReport(engine.health());
        return { status: r.status, timestamp: rfc3339(now()), details: r.details, storageFault: r.storageFault };
      },

      async getStatus() {
        const s = await engine.status();
        return {
          trng: queueStatus(s.trng),
          fortuna: queueStatus(s.fortuna),
          database: { ...s.database, storageFault: s.database.storageFault ?? "" },
          chips: s.chips,
          fortunaInstances: s.fortunaInstances,
        };
      },

      getQueueConfig() {
        const q = engine.getQueueConfig();
        return { trngQueueSize: BigInt(q.trng), fortunaQueueSize: BigInt(q.fortuna) };
      },

      async updateQueueConfig(req, ctx) {
        if (req.trngQueueSize === undefined && req.fortunaQueueSize === undefined) {
          throw invalidArgument("at least one of trng_queue_size, fortuna_queue_size is required");
        }
        const old = engine.getQueueConfig();
        let q;
        try {
          q = await engine.setQueueConfig({
            ...(req.trngQueueSize !== undefined && { trng: Number(req.trngQueueSize) }),
            ...(req.fortunaQueueSize !== undefined && { fortuna: Number(req.fortunaQueueSize) }),
          });
        } catch (err) {
          // A size refused up front (the disk cannot hold it) is the caller's to fix;
          // a storage fault (UNAVAILABLE, 503) says why, and clears by itself.
          if (err instanceof ConnectError && (err.code === Code.InvalidArgument || err.code === Code.Unavailable)) throw err;
          throw new ConnectError(QUEUE_CONFIG_FAILED, Code.Internal, undefined, undefined, err);
        }
        configChanged(ctx, "queue sizes", old, q);
        return { trngQueueSize: BigInt(q.trng), fortunaQueueSize: BigInt(q.fortuna) };
      },

      getConsumeConfig() {
        return { consume: engine.getConsume() };
      },

      async updateConsumeConfig(req, ctx) {
        const old = engine.getConsume();
        const consume = await engine.setConsume(req.consume === true);
        configChanged(ctx, "consume", old, consume);
        return { consume };
      },

      async getMetrics() {
        return { contentType: engine.metrics.contentType, text: await engine.metrics.metrics() };
      },

      // Takes the next chunk only when everything yielded before has left for
      // the client, and no more than the client's flow-control window takes
      // (runtime/src/send-flow.ts): a reader that stops, stops consumption,
      // and a chunk may be smaller than chunk_size. The first wait sends the
      // response head, so the client knows its stream is accepted while the
      // queue is still empty. Each chunk is charged to the quota before it is
      // taken; a caller out of bytes gets what was taken, then RESOURCE_EXHAUSTED.
      async *streamData(req, ctx) {
        const source = sourceName(req.source);
        const charge = quotas.admit(ctx, source, 0);
        const chunk = req.chunkSize!; // the rules' default when unset
        let left = req.maxBytes;
        while (left === undefined || left > 0n) {
          let want: number;
          try {
            want = charge.upTo(left === undefined || left > BigInt(chunk) ? chunk : Number(left));
          } catch (err) {
            // A started REST body can only be cut off (the connection closed):
            // the chunks already yielded leave first, so the caller keeps what
            // it was charged for.
            await allSent(ctx).catch(() => undefined);
            throw err;
          }
          try {
            const room = await readyToSend(ctx, want);
            charge.refund(want - room);
            want = room;
          } catch (err) {
            charge.refund(want);
            if (ctx.signal.aborted) return;
            throw err;
          }
          let data: Uint8Array;
          try {
            data = await engine.takeSome(source, want, ctx.signal);
          } catch (err) {
            charge.refund(want);
            if (ctx.signal.aborted) return;
            throw err;
          }
          if (data.length < want) charge.refund(want - data.length);
          if (left !== undefined) left -= BigInt(data.length);
          yield { data };
        }
      },

      async getIntegers(req, ctx) {
        // Admitted for the first batch sampleIntegers draws; the rare second
        // batch is charged as it is drawn, so an admitted request completes.
        const plan = planRange(req.min, req.max);
        let prepaid = plan.bytes === 0 ? 0 : candidatesFor(plan, req.count) * plan.bytes;
        const charge = admit(req.source, prepaid, ctx);
        const values = await sampleIntegers(plan, req.count, (n) => {
          charge.extra(n - Math.min(n, prepaid));
          prepaid -= Math.min(n, prepaid);
          return takeAll(req.source, n, 0, ctx.signal, charge);
        });
        return { values };
      },

      async getUuids(req, ctx) {
        const bytes = req.count * UUID_BYTES;
        return { uuids: uuidsV4(await takeAll(req.source, bytes, 0, ctx.signal, admit(req.source, bytes, ctx))) };
      },

      async getBytes(req, ctx) {
        const encoding = req.encoding === Encoding.BASE64 ? Encoding.BASE64 : Encoding.HEX;
        const data = Buffer.from(await takeAll(req.source, req.length, 0, ctx.signal, admit(req.source, req.length, ctx)));
        return { data: data.toString(encoding === Encoding.HEX ? "hex" : "base64"), encoding };
      },

      getUsage(_req, ctx) {
        return quotas.usage(ctx);
      },
    },
    {
      render: {
        getData: (res: GetDataResponse) => {
          const f = formatInfo(res.format);
          if (f.binary) {
            return {
              headers: { "Content-Type": "application/octet-stream", "Content-Disposition": "attachment; filename=random.bin" },
              body: res.data,
            };
          }
          return { body: valuesJson(f, res.data) };
        },
        getMetrics: (res: GetMetricsResponse) => ({ headers: { "Content-Type": res.contentType }, body: res.text }),
        streamData: (res: StreamDataResponse) => ({ headers: { "Content-Type": "application/octet-stream" }, body: res.data }),
      },
    },
  );
}
