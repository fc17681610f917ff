// Starts a real Fortuna server on a loopback port for the service tests, with
// a clock the test moves by hand (no wall-clock waits or thresholds).
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient, silentLogger, startServer, type GrpcClient, type RunningServer } from "../../runtime/src/index.js";
import { createFortuna, type Fortuna } from "../src/service.js";

export interface Harness {
  fortuna: Fortuna;
  server: RunningServer;
  base: string;
  address: string;
  grpc: GrpcClient<typeof FortunaService>;
  clock: { now: () => number; advance: (ms: number) => void };
  close(): Promise<void>;
}

export async function startHarness(opts: { maxSeedAgeMs?: number; amplificationFactor?: number; realClock?: boolean } = {}): Promise<Harness> {
  let t = Date.UTC(2026, 0, 1);
  const clock = { now: () => (opts.realClock ? Date.now() : t), advance: (ms: number) => void (t += ms) };
  const fortuna = createFortuna({
    maxSeedAgeMs: opts.maxSeedAgeMs ?? 24 * 3600 * 1000,
    amplificationFactor: opts.amplificationFactor ?? 4,
    now: clock.now,
  });
  const server = await startServer({
    name: "fortuna-test",
    port: 0,
    host: "127.0.0.1",
    log: silentLogger,
    bindings: [fortuna.binding],
    health: fortuna.health,
    shutdownTimeoutMs: 2000,
    onClose: () => fortuna.close(),
  });
  const address = `127.0.0.1:${server.port}`;
  const grpc = createGrpcClient(FortunaService, address);
  return {
    fortuna,
    server,
    base: `http://${address}`,
    address,
    grpc,
    clock,
    async close() {
      grpc.close();
      await server.close();
    },
  };
}

/** Waits until `read()` gives the same value `times` polls in a row; fails after `maxPolls`. */
export async function settled<T>(read: () => T | Promise<T>, times = 5, maxPolls = 400, everyMs = 20): Promise<T> {
  let last = await read();
  let same = 0;
  for (let i = 0; i < maxPolls; i++) {
    await new Promise((r) => setTimeout(r, everyMs));
    const v = await read();
    same = v === last ? same + 1 : 0;
    last = v;
    if (same >= times) return v;
  }
  throw new Error(`value never settled (last ${String(last)})`);
}
