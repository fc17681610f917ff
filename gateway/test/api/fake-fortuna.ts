// A Fortuna upstream for the real engine: every byte it hands out is part of
// one counting sequence of big-endian uint32 words, so a byte served twice
// shows as a repeated word.
import { FortunaService } from "../../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { bind, silentLogger, startServer, type RunningServer } from "../../../runtime/src/index.js";

export class CountingSource {
  private next = 0;
  bytes(n: number): Uint8Array {
    if (n % 4 !== 0) throw new Error("whole words only");
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) out.writeUInt32BE(this.next++ >>> 0, i);
    return out;
  }
}

export async function startFakeFortuna(source = new CountingSource()): Promise<{ server: RunningServer; address: string }> {
  const impl = bind(FortunaService, {
    generate: (req) => ({ data: source.bytes(req.size), size: req.size }),
    seed: (req) => ({ status: "reseeded", count: req.seeds.length, reseeded: true }),
    getInfo: () => ({ service: "fake-fortuna", seeded: true }),
    getHealth: () => ({ status: "healthy", seeded: true }),
    async *streamRandom(req, ctx) {
      const size = req.chunkSize!; // the runtime applied the proto's default when unset
      while (!ctx.signal.aborted) yield { data: source.bytes(size) };
    },
  });
  const server = await startServer({ name: "fake-fortuna", port: 0, host: "127.0.0.1", log: silentLogger, bindings: [impl], shutdownTimeoutMs: 1000 });
  return { server, address: `127.0.0.1:${server.port}` };
}
