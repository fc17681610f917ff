// The gateway's upstreams: a grpc-js client per controller and per Fortuna
// instance (so each chip gets its own stream, and each instance its own
// stream and its own seeds), with what we know about each connection.
import type * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EntropySource } from "../../../gen/lokey/controller/v1/controller_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { FortunaService } from "../../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { createGrpcClient, type ClientTls, type GrpcClient } from "../../../runtime/src/index.js";
import { FORTUNA_MAX_REQUEST_BYTES } from "./config.js";
import { Pulse } from "./lock.js";
import type { MemberSet } from "./members.js";
import type { Endpoint } from "./resolver.js";
import type { FortunaInstanceStatus } from "./types.js";

/** What we know about one upstream. */
export class Link {
  /** The service answered its last call (an unseeded Fortuna refusing to stream still counts). */
  reachable = false;
  /** A stream is open and has delivered data. */
  streaming = false;
  lastError?: string;
  /** The liveness watch (liveness.ts) has an answer from the upstream on an open stream. */
  live = false;
  /** Its last health answer was SERVING (a controller whose health tests pass, a seeded Fortuna). */
  serving = false;
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
    this.serving = false;
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

/**
 * A client for one upstream endpoint. A dns:/// endpoint is dialled by
 * address, so its certificate is checked against the name instead
 * (grpc-js's target-name override also sets the :authority it sends).
 */
export function clientFor<S extends DescService>(service: S, endpoint: Endpoint, tls?: ClientTls, options: grpc.ChannelOptions = {}): GrpcClient<S> {
  const channelOptions: grpc.ChannelOptions = { ...options, ...(endpoint.serverName && tls && { "grpc.ssl_target_name_override": endpoint.serverName }) };
  return createGrpcClient(service, endpoint.address, { tls, channelOptions });
}

/** A health client on `data`'s own channel, so its keepalive and reconnection are the data's. */
export const healthOf = (data: { raw: grpc.Client }, endpoint: Endpoint, tls?: ClientTls): GrpcClient<typeof Health> =>
  createGrpcClient(Health, endpoint.address, { tls, channelOf: data });

/** One Fortuna instance: its client, its link, and whether this gateway has seeded it. */
export class FortunaMember {
  readonly client: GrpcClient<typeof FortunaService>;
  readonly health: GrpcClient<typeof Health>;
  readonly link: Link;
  /** Seeded by this gateway since it (or the instance, see Link.returned) last started. */
  seeded = false;

  constructor(readonly endpoint: Endpoint, tls?: ClientTls) {
    this.client = clientFor(FortunaService, endpoint, tls);
    this.health = healthOf(this.client, endpoint, tls);
    this.link = new Link(endpoint.address);
  }

  status(): FortunaInstanceStatus {
    return {
      address: this.endpoint.address,
      target: this.endpoint.spec,
      connected: this.link.streaming && this.link.live,
      seeded: this.seeded,
      lastError: this.link.lastError ?? "",
    };
  }

  close(): void {
    this.health.close();
    this.client.close();
  }
}

/**
 * `n` fresh bytes straight from Fortuna, in requests of at most 1 MiB,
 * round-robin over the instances (a failed instance is skipped for the
 * next). Bounded by `signal`, else by `timeoutMs`.
 */
export class FortunaPuller {
  private next = 0;

  constructor(
    private readonly fortunas: MemberSet<FortunaMember>,
    private readonly timeoutMs: number,
  ) {}

  async pull(n: number, signal?: AbortSignal): Promise<{ data: Uint8Array; calls: number }> {
    const out = new Uint8Array(n);
    let at = 0;
    let calls = 0;
    while (at < n) {
      const size = Math.min(FORTUNA_MAX_REQUEST_BYTES, n - at);
      const members = this.fortunas.members;
      let lastErr: unknown = new ConnectError("no Fortuna instance is known (FORTUNA_ADDR resolves to no address)", Code.Unavailable);
      let got: Uint8Array | undefined;
      for (let tries = 0; tries < members.length && !got; tries++) {
        const f = members[this.next++ % members.length];
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
}
