// Starts a real Fortuna server on a loopback port for the service tests, with
// a clock the test moves by hand (no wall-clock waits or thresholds).
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient, silentLogger, startServer, type GrpcClient, type RunningServer, type SecurityConfig } from "../../runtime/src/index.js";
import { systemClock, type Clock } from "../src/accumulator.js";
import type { LocalEntropy } from "../src/first-seed.js";
import { createFortuna, type Fortuna } from "../src/service.js";
import type { CertSet as CertSet } from "../../runtime/test/tls-helpers.js";

export interface Harness {
  fortuna: Fortuna;
  server: RunningServer;
  base: string;
  address: string;
  grpc: GrpcClient<typeof FortunaService>;
  clock: TestClock;
  close(): Promise<void>;
}

/** The service's two clocks, moved by hand. */
export interface TestClock extends Clock {
  /** Time passes: both clocks move on by `ms`. */
  advance(ms: number): void;
  /** The wall clock alone is set (NTP, an operator); `ms` may be negative. */
  stepWall(ms: number): void;
}

export function fakeClock(wallStart = Date.UTC(2026, 0, 1)): TestClock {
  let wall = wallStart;
  let mono = 0;
  return {
    wall: () => wall,
    monotonic: () => mono,
    advance: (ms) => {
      wall += ms;
      mono += ms;
    },
    stepWall: (ms) => void (wall += ms),
  };
}

/** The real clocks; they cannot be moved by hand. */
const realClock: TestClock = {
  ...systemClock,
  advance: () => {
    throw new Error("a real clock cannot be advanced");
  },
  stepWall: () => {
    throw new Error("a real clock cannot be stepped");
  },
};

export interface HarnessOptions {
  maxSeedAgeMs?: number;
  amplificationFactor?: number;
  realClock?: boolean;
  maxSeeders?: number;
  entropy?: LocalEntropy;
  /**
   * Serve mutual TLS with this PKI, as main.ts does with TLS_CERT_FILE,
   * TLS_KEY_FILE and TLS_CLIENT_CA_FILE (the fortuna certificate, client
   * certificates checked against the PKI's CA); `grpc` then presents none.
   */
  pki?: CertSet;
  /** TLS_ALLOWED_CLIENTS, with `pki`. */
  allowedClients?: string[];
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const clock = opts.realClock ? realClock : fakeClock();
  const allowedClients = opts.allowedClients ?? [];
  let security: SecurityConfig | undefined;
  if (opts.pki) {
    const own = opts.pki.creds("fortuna");
    security = { tls: { cert: own.cert, key: own.key, clientCa: opts.pki.ca }, allowedClients };
  }
  const fortuna = createFortuna({
    maxSeedAgeMs: opts.maxSeedAgeMs ?? 24 * 3600 * 1000,
    amplificationFactor: opts.amplificationFactor ?? 4,
    clock,
    maxSeeders: opts.maxSeeders,
    entropy: opts.entropy,
  });
  const running = await startServer({
    name: "fortuna-test",
    port: 0,
    host: "127.0.0.1",
    log: silentLogger,
    bindings: [fortuna.binding],
    health: fortuna.health,
    shutdownTimeoutMs: 2000,
    security,
    onClose: () => fortuna.close(),
  });
  const address = `127.0.0.1:${running.port}`;
  const grpc = createGrpcClient(FortunaService, address, opts.pki && { tls: { ca: opts.pki.ca } });
  return {
    fortuna,
    server: running,
    base: `${security ? "https" : "http"}://${address}`,
    address,
    grpc,
    clock,
    async close() {
      grpc.close();
      await running.close();
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

/** What the services write for `ms` (runtime/src/timestamp.ts): RFC 3339 in UTC, to the second. */
export const atSecond = (ms: number) => new Date(ms - (ms % 1000)).toISOString().replace(".000Z", "Z");
