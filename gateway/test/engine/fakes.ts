// Fake controller and Fortuna services: the real gRPC contracts served by the
// runtime on loopback, with trivial, recognisable output and counters.
import { randomFillSync } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { ControllerService, EntropySource } from "../../../gen/lokey/controller/v1/controller_pb.js";
import { FortunaService } from "../../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { bind, silentLogger, startServer, type RunningServer, type SecurityConfig } from "../../../runtime/src/index.js";
import type { GatewayEngineConfig } from "../../src/engine/config.js";
import { parseUpstreams } from "../../src/engine/resolver.js";

/** Stream samples start with this byte, Generate (seed) samples with SEED_MARK. */
export const STREAM_MARK = 0x5a;
export const SEED_MARK = 0xa5;
export const DIRECT_MARK = 0xd1;

export class FakeController {
  server!: RunningServer;
  streamed = 0;
  generateCalls = 0;
  /** Samples handed out by Generate, hex. */
  readonly generated: string[] = [];
  failGenerate = false;
  /** Pause between stream samples. */
  intervalMs = 2;
  /** The chip's serial number its GetInfo reports. */
  serial = "";
  private host = "127.0.0.1";

  async start(port = 0, host = "127.0.0.1", security?: SecurityConfig): Promise<this> {
    const self = this;
    this.host = host;
    this.server = await startServer({
      name: "fake-controller",
      port,
      host,
      security,
      log: silentLogger,
      shutdownTimeoutMs: 100,
      bindings: [
        bind(ControllerService, {
          getInfo: () => ({ service: "fake", source: EntropySource.EMULATOR, serialNumber: this.serial }),
          generate: (req) => {
            this.generateCalls++;
            if (this.failGenerate) throw new ConnectError("entropy health tests failing", Code.Unavailable);
            const data = Array.from({ length: req.count ?? 1 }, () => {
              const s = new Uint8Array(32);
              crypto.getRandomValues(s);
              s[0] = SEED_MARK;
              this.generated.push(Buffer.from(s).toString("hex"));
              return s;
            });
            return { data, source: EntropySource.EMULATOR };
          },
          async *streamSamples(_req, ctx) {
            while (!ctx.signal.aborted) {
              const s = new Uint8Array(32);
              crypto.getRandomValues(s);
              s[0] = STREAM_MARK;
              self.streamed++;
              yield { data: s, source: EntropySource.EMULATOR, sequence: BigInt(self.streamed) };
              await sleep(self.intervalMs);
            }
          },
        }),
      ],
    });
    return this;
  }

  get addr(): string {
    return `${this.host}:${this.server.port}`;
  }
}

export class FakeFortuna {
  server!: RunningServer;
  /** Stream chunks produced (generation follows the reader). */
  chunks = 0;
  directCalls = 0;
  readonly seeds: string[][] = [];
  /** Each Seed call's SeedRequest.chip (beside `seeds`, unless a chip is refused). */
  readonly seedChips: string[] = [];
  /** Seeds from this chip get RESOURCE_EXHAUSTED, as from a Fortuna whose 256 sources are given out. */
  refuseChip?: string;
  seeded = false;
  failSeed = false;
  failGenerate = false;
  /** Stream chunks of random bytes instead of 0x42 (each window of them then is unique). */
  randomChunks = false;
  /** Each stream chunk's first 4 bytes are a unique big-endian counter. */
  private serial = 0;
  private host = "127.0.0.1";

  async start(port = 0, host = "127.0.0.1"): Promise<this> {
    const self = this;
    this.host = host;
    this.server = await startServer({
      name: "fake-fortuna",
      port,
      host,
      log: silentLogger,
      shutdownTimeoutMs: 100,
      bindings: [
        bind(FortunaService, {
          seed: (req) => {
            if (this.failSeed) throw new ConnectError("seed rejected", Code.Internal);
            this.seedChips.push(req.chip);
            if (req.chip === this.refuseChip) throw new ConnectError("no source left", Code.ResourceExhausted);
            this.seeds.push(req.seeds.map((s) => Buffer.from(s).toString("hex")));
            this.seeded = true;
            return { status: "reseeded", count: req.seeds.length, reseeded: true };
          },
          generate: (req) => {
            this.directCalls++;
            if (this.failGenerate) throw new ConnectError("fortuna unavailable", Code.Unavailable);
            return { data: new Uint8Array(req.size).fill(DIRECT_MARK), size: req.size };
          },
          async *streamRandom(req, ctx) {
            if (!self.seeded) throw new ConnectError("not seeded", Code.FailedPrecondition);
            const size = req.chunkSize ?? 65536;
            while (!ctx.signal.aborted) {
              const b = Buffer.alloc(size, 0x42);
              if (self.randomChunks) randomFillSync(b);
              if (size >= 4) b.writeUInt32BE(self.serial++);
              self.chunks++;
              yield { data: b };
            }
          },
        }),
      ],
    });
    return this;
  }

  get addr(): string {
    return `${this.host}:${this.server.port}`;
  }
}

export function testConfig(dbPath: string, controller: string, fortuna: string[], over: Partial<GatewayEngineConfig> = {}): GatewayEngineConfig {
  return {
    dbPath,
    controllers: parseUpstreams("CONTROLLER_ADDR", controller.split(",")),
    fortunas: parseUpstreams("FORTUNA_ADDR", fortuna),
    trngQueueSize: 50,
    fortunaQueueSize: 20,
    reseedIntervalMs: 60_000,
    fortunaItemBytes: 64,
    trngPollIntervalMs: 1000,
    fortunaPollIntervalMs: 5000,
    upstreamTimeoutMs: 2000,
    retry: { minMs: 20, maxMs: 200 },
    ...over,
  };
}

/** Polls `cond` until true; fails with `what` after a generous bound (a hang guard, not a performance check). */
export async function until(what: string, cond: () => boolean | Promise<boolean>, boundMs = 15_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** True once `read()` gives the same value `times` times in a row, `gapMs` apart. */
export async function settled(read: () => number, times = 5, gapMs = 60): Promise<number> {
  let last = read();
  let same = 0;
  while (same < times) {
    await sleep(gapMs);
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}
