// The gateway's upstreams: one grpc-js client for the controller and one per
// Fortuna instance (so each instance gets its own stream and its own seeds),
// with what we know about each connection.
import { Code, ConnectError } from "@connectrpc/connect";
import { ControllerService, EntropySource } from "../../../gen/lokey/controller/v1/controller_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { FortunaService } from "../../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient, type ClientTls, type GrpcClient } from "../../../runtime/src/index.js";
import { FORTUNA_MAX_REQUEST_BYTES } from "./config.js";
import { Pulse } from "./lock.js";

/** What we know about one upstream. */
export class Link {
  /** The service answered its last call (an unseeded Fortuna refusing to stream still counts). */
  reachable = false;
  /** A stream is open and has delivered data. */
  streaming = false;
  lastError?: string;
  /** The liveness watch (liveness.ts) has an answer from the upstream on an open stream. */
  live = false;
  /** Fired when retrying now is worthwhile (e.g. Fortuna was just seeded). */
  readonly wake = new Pulse();
  /** Fired when the upstream comes back after being lost (a restarted Fortuna needs seeding). */
  readonly returned = new Pulse();

  constructor(readonly address: string) {}

  up(): void {
    this.reachable = true;
    this.lastError = undefined;
  }

  /** The liveness watch lost the upstream: nothing is reachable or flowing, whatever the last call said. */
  down(err: unknown): void {
    this.live = false;
    this.reachable = false;
    this.lastError = err instanceof Error ? err.message : String(err);
  }

  failed(err: unknown): void {
    this.streaming = false;
    this.lastError = err instanceof Error ? err.message : String(err);
    // FAILED_PRECONDITION is an answer (e.g. "not seeded yet"): the peer is there.
    this.reachable = ConnectError.from(err).code === Code.FailedPrecondition;
  }
}

/**
 * A signal of its own for one unary call, following `parent`. The grpc-js
 * adapter leaves its abort listener on the signal it is given; giving it a
 * per-call signal keeps long-lived signals (the engine's stop signal, a
 * stream's) from collecting one listener per call.
 */
export async function withCallSignal<T>(parent: AbortSignal | undefined, call: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (!parent) return call(undefined);
  const ac = new AbortController();
  const onAbort = () => ac.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  try {
    return await call(ac.signal);
  } finally {
    parent.removeEventListener("abort", onAbort);
  }
}

/** How status reports the controller's entropy source. */
export function originOf(source: EntropySource): string {
  switch (source) {
    case EntropySource.ATECC608A:
      return "atecc608a";
    case EntropySource.EMULATOR:
      return "emulator";
    case EntropySource.OS:
      return "os-csprng (fallback)";
    default:
      return "unknown";
  }
}

export class Upstreams {
  readonly controller: GrpcClient<typeof ControllerService>;
  readonly controllerLink: Link;
  readonly fortuna: { client: GrpcClient<typeof FortunaService>; link: Link }[];
  /** Health clients on the same channels as the data clients, so their keepalive and reconnection are the data's. */
  readonly health: { link: Link; client: GrpcClient<typeof Health> }[];
  trngOrigin = "unknown";
  private next = 0;

  constructor(controllerAddr: string, fortunaAddrs: string[], private readonly timeoutMs: number, tls?: ClientTls) {
    this.controller = createGrpcClient(ControllerService, controllerAddr, { tls });
    this.controllerLink = new Link(controllerAddr);
    this.fortuna = fortunaAddrs.map((a) => ({ client: createGrpcClient(FortunaService, a, { tls }), link: new Link(a) }));
    this.health = [
      { link: this.controllerLink, client: createGrpcClient(Health, controllerAddr, { tls, channelOf: this.controller }) },
      ...this.fortuna.map((f) => ({ link: f.link, client: createGrpcClient(Health, f.link.address, { tls, channelOf: f.client }) })),
    ];
  }

  /**
   * `n` fresh bytes straight from Fortuna, in requests of at most 1 MiB,
   * round-robin over the instances (a failed instance is skipped for the
   * next). Bounded by `signal`, else by the upstream timeout.
   */
  async pullFortuna(n: number, signal?: AbortSignal): Promise<{ data: Uint8Array; calls: number }> {
    const out = new Uint8Array(n);
    let at = 0;
    let calls = 0;
    while (at < n) {
      const size = Math.min(FORTUNA_MAX_REQUEST_BYTES, n - at);
      let lastErr: unknown;
      let got: Uint8Array | undefined;
      for (let tries = 0; tries < this.fortuna.length && !got; tries++) {
        const f = this.fortuna[this.next++ % this.fortuna.length];
        if (signal?.aborted) throw signal.reason;
        try {
          calls++;
          const res = await withCallSignal(signal, (s) => f.client.generate({ size }, s ? { signal: s } : { timeoutMs: this.timeoutMs }));
          if (res.data.length !== size) throw new Error(`Fortuna ${f.link.address} sent ${res.data.length} bytes, asked ${size}`);
          f.link.up();
          got = res.data;
        } catch (err) {
          lastErr = err;
        }
      }
      if (!got) throw lastErr;
      out.set(got, at);
      at += size;
    }
    return { data: out, calls };
  }

  close(): void {
    this.controller.close();
    for (const f of this.fortuna) f.client.close();
    for (const h of this.health) h.client.close();
  }
}
