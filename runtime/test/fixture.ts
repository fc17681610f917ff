// A stand-in service for runtime tests: the Fortuna contract with a trivial,
// deterministic implementation, so the tests exercise the runtime only.
import { after, before } from "node:test";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { bind, silentLogger, startServer, type RunningServer, type ServerOptions } from "../src/index.js";

export interface Fixture {
  server: RunningServer;
  base: string;
  /** Resolves the pending slow call (GetInfo waits for it). */
  release: () => void;
  slowStarted: Promise<void>;
}

/** `server`: further server options (connection limits, TLS). */
export async function startFixture(opts: { maxRequestBytes?: number; cors?: boolean; server?: Partial<ServerOptions> } = {}): Promise<Fixture> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const slowStarted = new Promise<void>((r) => (started = r));
  const impl = bind(FortunaService, {
    generate: (req) => ({ data: new Uint8Array(req.size).map((_, i) => i & 0xff), size: req.size }),
    seed: (req) => ({ status: "pooled", count: req.seeds.length, reseeded: false }),
    async getInfo() {
      started();
      await gate;
      return { service: "fixture", seeded: true, reseedCount: 2n ** 60n + 1n };
    },
    async *streamRandom(req, ctx) {
      const size = req.chunkSize!; // the runtime applied the proto's default when unset
      for (let i = 0; !ctx.signal.aborted; i++) yield { data: new Uint8Array(size).fill(i & 0xff) };
    },
  }, {
    bytes: "hex",
    render: { seed: (res) => ({ body: { status: res.status, count: res.count } }) },
  });
  const server = await startServer({
    name: "fixture",
    port: 0,
    host: "127.0.0.1",
    log: silentLogger,
    bindings: [impl],
    maxRequestBytes: opts.maxRequestBytes ?? 64 * 1024,
    cors: opts.cors ?? true,
    shutdownTimeoutMs: 5000,
    ...opts.server,
  });
  return { server, base: `http://127.0.0.1:${server.port}`, release, slowStarted };
}

/**
 * One fixture for a whole test file (hooks registered here); the object is
 * filled in before the first test runs.
 */
export function fixturePerFile(): Fixture {
  const fx = {} as Fixture;
  before(async () => {
    Object.assign(fx, await startFixture());
  });
  after(async () => {
    fx.release();
    await fx.server.close();
  });
  return fx;
}
