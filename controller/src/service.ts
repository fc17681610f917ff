// ControllerService over the harvester: the sample stream, on-demand Generate,
// Info and Health, with the documented REST shapes of the controller's
// endpoints (docs/reference/rest-api.md, "The upstreams' own endpoints").
import { Code, ConnectError } from "@connectrpc/connect";
import { ControllerService, EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import type { GenerateResponse } from "../../gen/lokey/controller/v1/controller_pb.js";
import { bind, healthReply, rfc3339, type HealthRegistry, type ServiceBinding } from "../../runtime/src/index.js";
import { entropyClaim, RAW_BYTES_PER_SAMPLE } from "./conditioning.js";
import type { Harvester, HarvesterStatus } from "./harvester.js";

export interface ControllerServiceOptions {
  harvester: Harvester;
  health: HealthRegistry;
  /** Reported in Info for a chip; 0 for the OS source. */
  i2cBus: number;
  i2cAddress: number;
  /** Longest wait for Generate beyond the samples' nominal harvest time (ms). */
  generateTimeoutMs?: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Keeps the gRPC health registry in step with whether entropy can be delivered. */
export function trackHealth(harvester: Harvester, health: HealthRegistry): () => void {
  const apply = (s: HarvesterStatus) => health.setAll(s.serving ? "SERVING" : "NOT_SERVING", [ControllerService.typeName]);
  apply(harvester.status());
  return harvester.onChange(apply);
}

export function controllerBinding(opts: ControllerServiceOptions): ServiceBinding {
  const { harvester } = opts;
  const source = harvester.source;
  const generateTimeoutMs = opts.generateTimeoutMs ?? 5000;
  // The claim depends only on the source, which does not change while the process runs.
  const claim = entropyClaim(source.kind);

  const unavailable = (s: HarvesterStatus) => new ConnectError(`no entropy available: ${s.reason}`, Code.Unavailable);

  return bind(
    ControllerService,
    {
      async *streamSamples(_req, ctx) {
        for (;;) {
          const sample = await harvester.take(ctx.signal);
          yield { data: sample.data, source: source.kind, sequence: sample.sequence };
        }
      },

      async generate(req, ctx) {
        const count = req.count!; // the rules' default when unset
        const before = harvester.status();
        if (!before.serving) throw unavailable(before);
        // Abandon the wait when the client leaves or the source stalls (faults, failing tests).
        const timeout = AbortSignal.timeout(generateTimeoutMs + count * 100);
        const signal = AbortSignal.any([ctx.signal, timeout]);
        const data: Uint8Array[] = [];
        try {
          while (data.length < count) data.push((await harvester.take(signal)).data);
        } catch (err) {
          if (timeout.aborted) {
            const s = harvester.status();
            throw s.serving ? new ConnectError(`timed out after ${data.length} of ${count} samples`, Code.Unavailable) : unavailable(s);
          }
          throw err;
        }
        return { data, source: source.kind };
      },

      getInfo() {
        const s = harvester.status();
        const d = source.describe();
        const chip = source.kind !== EntropySource.OS;
        return {
          service: "controller",
          source: source.kind,
          revision: d.revision,
          serialNumber: d.serialNumber,
          configLocked: d.configLocked,
          dataLocked: d.dataLocked,
          i2cBus: chip ? opts.i2cBus : 0,
          i2cAddress: chip ? opts.i2cAddress : 0,
          samplesHarvested: s.harvested,
          healthTests: s.tests,
          rawBytesPerSample: RAW_BYTES_PER_SAMPLE,
          creditedInputEntropyBits: claim.creditedInputBits,
          entropyClaim: claim.text,
        };
      },

      getHealth() {
        const s = harvester.status();
        return {
          status: s.serving ? "healthy" : "unhealthy",
          timestamp: rfc3339(new Date()),
          source: source.kind,
          deviceOk: s.deviceOk,
          healthTests: s.tests,
          reason: s.reason,
        };
      },
    },
    {
      bytes: "hex",
      render: {
        // The documented shape (docs/reference/rest-api.md): one value as a string, several as an array.
        generate: (res: GenerateResponse) => ({ body: { data: res.data.length === 1 ? hex(res.data[0]) : res.data.map(hex) } }),
        // Orchestrators probing GET /health read the status code.
        getHealth: healthReply,
      },
    },
  );
}
