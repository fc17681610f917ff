// Per-client quotas on the gateway's random data: who a caller is (an API
// key, else its address), its buckets per source (requests and bytes), and
// the check every data method makes before anything leaves a queue, so a
// refusal consumes nothing. The QUOTA_* variables and API_KEYS_FILE are
// described in gateway/README.md ("Quotas").
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { peerOf, type EnvReader } from "../../../runtime/src/index.js";
import type { AllowanceSchema, GetUsageResponseSchema, SourceUsageSchema } from "../../../gen/lokey/v1/gateway_pb.js";
import type { SourceName } from "../engine/types.js";
import { readApiKeys, type ApiKey, type ApiKeys } from "./api-keys.js";
import { anyOn, KINDS, OFF, readEnvLimits, SOURCES, type Kind, type Limits } from "./limits.js";
import { quotaExceeded, type PolicyState } from "./refusal.js";
import { isOn, TokenBucket } from "./token-bucket.js";

/** The header (and gRPC metadata key) naming an API key; `Authorization` carries the admin token. */
export const API_KEY_HEADER = "x-api-key";

export interface QuotaConfig {
  /** Everyone's limits (an API key may have its own). */
  limits: Limits;
  /** Callers on this machine are not counted (QUOTA_EXEMPT_LOOPBACK). */
  exemptLoopback: boolean;
  /** API_KEYS_FILE; unset: callers are told apart by address only and X-API-Key is ignored. */
  keys?: ApiKeys;
}

export function readQuotaConfig(env: EnvReader): QuotaConfig {
  const limits = readEnvLimits(env);
  return { limits, exemptLoopback: env.bool("QUOTA_EXEMPT_LOOPBACK", true), keys: readApiKeys(env, limits) };
}

/** What an admitted request may still do with its bytes bucket. */
export interface Charge {
  /** Gives back bytes charged but not served (the queue was short). */
  refund(bytes: number): void;
  /** Charges more bytes to an admitted request, into debt if need be: it is served whole or not at all. */
  extra(bytes: number): void;
  /** Streams: charges up to `want` bytes, as many as the bucket holds now; RESOURCE_EXHAUSTED when it is empty. */
  upTo(want: number): number;
}

const FREE: Charge = { refund() {}, extra() {}, upTo: (want) => want };

type Buckets = Partial<Record<Kind, TokenBucket>>;

// A class rather than closures: one object a request, no functions made per call.
class BytesCharge implements Charge {
  constructor(
    private readonly quotas: Quotas,
    private readonly client: string,
    private readonly source: SourceName,
    private readonly buckets: Buckets,
  ) {}

  refund(bytes: number): void {
    this.buckets.bytes!.give(bytes, this.quotas.clock());
  }

  extra(bytes: number): void {
    this.buckets.bytes!.take(bytes, this.quotas.clock());
  }

  upTo(want: number): number {
    const bucket = this.buckets.bytes!;
    const now = this.quotas.clock();
    const left = Math.floor(bucket.level(now));
    if (left < 1) throw this.quotas.refusal(`${this.client} is over its ${this.source} quota of bytes`, bucket.waitMs(1, now), this.source, "bytes", this.buckets, now);
    const n = Math.min(want, left);
    bucket.take(n, now);
    return n;
  }
}

interface Client {
  id: string;
  limits: Limits;
  exempt: boolean;
}

/**
 * IPv6 callers are counted by /64, the prefix one host is usually given, so
 * walking its addresses does not make new clients.
 */
export function clientAddress(address: string): string {
  if (!address.includes(":")) return address || "unknown";
  const groups = (s: string) => (s === "" ? [] : s.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])));
  const plain = address.split("%")[0].toLowerCase();
  const [head, tail] = plain.includes("::") ? plain.split("::") : [plain, undefined];
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t];
  return all.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":") + "::/64";
}

/** Why a request was refused: a bucket ran dry, or the X-API-Key it named is not in API_KEYS_FILE. */
export const REFUSAL_REASONS = ["requests", "bytes", "unknown_api_key"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

// Idle clients' buckets refill to full, the state of a client never seen: a
// sweep forgets those whenever the table has doubled since the last one.
const FIRST_SWEEP = 1024;

export class Quotas {
  private readonly clients = new Map<string, Record<SourceName, Buckets>>();
  private nextSweep = FIRST_SWEEP;
  /** Anything to do at all: a limit on, or keys to check. */
  private readonly active: boolean;
  /** Refusals of data requests since start, for the metrics (quota-metrics.ts). */
  readonly refused: Record<SourceName, Record<RefusalReason, number>> = {
    trng: { requests: 0, bytes: 0, unknown_api_key: 0 },
    fortuna: { requests: 0, bytes: 0, unknown_api_key: 0 },
  };

  constructor(
    private readonly config: QuotaConfig,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.active = anyOn(config.limits) || config.keys !== undefined;
  }

  static off(): Quotas {
    return new Quotas({ limits: OFF, exemptLoopback: true });
  }

  /** Who the call is counted as; UNAUTHENTICATED for a key API_KEYS_FILE does not hold. */
  private client(ctx: HandlerContext): Client {
    let key: ApiKey | undefined;
    const given = this.config.keys ? ctx.requestHeader.get(API_KEY_HEADER) : null;
    if (given !== null) {
      key = this.config.keys!.lookup(given.trim());
      if (!key) throw new ConnectError("X-API-Key: unknown API key", Code.Unauthenticated);
    }
    const peer = peerOf(ctx);
    return {
      id: key ? `key:${key.name}` : `address:${clientAddress(peer.address)}`,
      limits: key?.limits ?? this.config.limits,
      exempt: this.config.exemptLoopback && peer.loopback,
    };
  }

  private bucketsOf(client: Client, source: SourceName, t: number): Buckets {
    let all = this.clients.get(client.id);
    if (!all) {
      if (this.clients.size >= this.nextSweep) this.sweep(t);
      all = { trng: {}, fortuna: {} };
      for (const s of SOURCES) for (const k of KINDS) if (isOn(client.limits[s][k])) all[s][k] = new TokenBucket(client.limits[s][k], t);
      this.clients.set(client.id, all);
    }
    return all[source];
  }

  private sweep(t: number): void {
    for (const [id, all] of this.clients) {
      if (SOURCES.every((s) => KINDS.every((k) => all[s][k]?.isFull(t) ?? true))) this.clients.delete(id);
    }
    this.nextSweep = Math.max(FIRST_SWEEP, 2 * this.clients.size);
  }

  /**
   * Admits one request for `bytes` from `source`, charging one request and
   * the bytes, or throws RESOURCE_EXHAUSTED having charged nothing. Streams
   * pass `bytes` 0 and charge each chunk with `upTo` (the bucket must not be empty).
   */
  admit(ctx: HandlerContext, source: SourceName, bytes: number): Charge {
    if (!this.active) return FREE;
    let client: Client;
    try {
      client = this.client(ctx);
    } catch (err) {
      this.refused[source].unknown_api_key++;
      throw err;
    }
    if (client.exempt) return FREE;
    const t = this.now();
    const b = this.bucketsOf(client, source, t);
    if (!b.requests && !b.bytes) return FREE;
    const needBytes = Math.max(bytes, 1);
    const waitRequests = b.requests?.waitMs(1, t) ?? 0;
    const waitBytes = b.bytes?.waitMs(needBytes, t) ?? 0;
    if (waitRequests > 0 || waitBytes > 0) {
      const what = waitRequests > 0 ? "requests" : `bytes (${bytes} asked, ${Math.max(0, Math.floor(b.bytes!.level(t)))} left)`;
      throw this.refusal(`${client.id} is over its ${source} quota of ${what}`, Math.max(waitRequests, waitBytes), source, waitRequests > 0 ? "requests" : "bytes", b, t);
    }
    b.requests?.take(1, t);
    if (!b.bytes) return FREE;
    b.bytes.take(bytes, t);
    return new BytesCharge(this, client.id, source, b);
  }

  /** @internal */
  clock(): number {
    return this.now();
  }

  /** @internal */
  refusal(message: string, retryMs: number, source: SourceName, kind: Kind, b: Buckets, t: number): ConnectError {
    this.refused[source][kind]++;
    const states: PolicyState[] = KINDS.flatMap((kind) => {
      const bucket = b[kind];
      return bucket ? [{ name: `${source}-${kind}`, kind, rate: bucket.rate, level: bucket.level(t), fullInMs: bucket.fullInMs(t) }] : [];
    });
    return quotaExceeded(`${message}; retry in ${Math.max(1, Math.ceil(retryMs / 1000))} s`, retryMs, states);
  }

  /** What the caller has left (GetUsage); uses no quota. */
  usage(ctx: HandlerContext): MessageInitShape<typeof GetUsageResponseSchema> {
    const client = this.active ? this.client(ctx) : { id: `address:${clientAddress(peerOf(ctx).address)}`, limits: OFF, exempt: false };
    const limited = !client.exempt && anyOn(client.limits);
    if (!limited) return { client: client.id, limited, trng: {}, fortuna: {} };
    const t = this.now();
    const known = this.clients.get(client.id);
    const one = (source: SourceName): MessageInitShape<typeof SourceUsageSchema> => {
      const out: MessageInitShape<typeof SourceUsageSchema> = {};
      for (const kind of KINDS) {
        const rate = client.limits[source][kind];
        if (!isOn(rate)) continue;
        // A client not seen yet (or forgotten when full) has full buckets.
        const bucket = known?.[source][kind] ?? new TokenBucket(rate, t);
        const allowance: MessageInitShape<typeof AllowanceSchema> = {
          left: BigInt(Math.max(0, Math.floor(bucket.level(t)))),
          burst: BigInt(rate.burst),
          perMinute: BigInt(rate.perMinute),
          fullInMs: BigInt(Math.ceil(bucket.fullInMs(t))),
        };
        out[kind] = allowance;
        if (kind === "bytes") out.bitsLeft = allowance.left! * 8n;
      }
      return out;
    };
    return { client: client.id, limited, trng: one("trng"), fortuna: one("fortuna") };
  }
}
