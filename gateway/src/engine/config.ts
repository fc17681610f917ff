// The engine's settings, read once at start-up. Queue sizes from the
// environment are only first defaults: sizes stored in the database win.
import { isAbsolute, relative, resolve, sep } from "node:path";
import { ConfigError, isLoopbackHost, pemCertificates, readFileVar, readKeyPair, type ClientTls, type EnvReader } from "../../../runtime/src/index.js";
import { QUEUE_KEY_BYTES } from "./queue-cipher.js";
import { UpdateQueueConfigRequestSchema } from "../../../gen/lokey/v1/gateway_pb.js";
import { fieldRange } from "../../../runtime/src/rules.js";
import { parseUpstreams, type UpstreamSpec } from "./resolver.js";

/** Fortuna's largest single generator request (fortuna.proto GenerateRequest.size: 2^20). */
export const FORTUNA_MAX_REQUEST_BYTES = 1_048_576;

export interface RetryPolicy {
  /** First wait after a failure. */
  minMs: number;
  /** Longest wait (the wait doubles up to this). */
  maxMs: number;
}

export interface GatewayEngineConfig {
  dbPath: string;
  /**
   * CONTROLLER_ADDR: the controllers, each with its own chip and stream (a
   * dns:/// entry stands for every address behind the name, resolver.ts).
   */
  controllers: UpstreamSpec[];
  /** FORTUNA_ADDR: the Fortuna instances, each with its own stream and its own seeds. */
  fortunas: UpstreamSpec[];
  trngQueueSize: number;
  fortunaQueueSize: number;
  reseedIntervalMs: number;
  /** Bytes per Fortuna queue item (the stream's chunk size). */
  fortunaItemBytes: number;
  /**
   * Legacy polling intervals of the original design (docs/reference/original-design.md). Accepted and validated so
   * existing deployments keep starting, but ignored: upstreams push over
   * streams and the queues fill as fast as their capacity allows.
   */
  trngPollIntervalMs: number;
  fortunaPollIntervalMs: number;
  /** Deadline of unary upstream calls (seeding, direct pulls without a caller deadline). */
  upstreamTimeoutMs: number;
  /** Reconnect and re-seed backoff. */
  retry: RetryPolicy;
  /** Mutual TLS towards the controller and Fortuna; unset: plain, upstreams on loopback only. */
  upstreamTls?: ClientTls;
  /**
   * QUEUE_KEY_FILE's key: queued randomness stays readable across restarts.
   * Unset: a key in memory only, and the queues are dropped at each start
   * (gateway/README.md, "At rest").
   */
  queueKey?: Buffer;
}

/**
 * Our certificate and the upstreams' CA. Upstreams elsewhere than on this
 * machine must be reached over TLS: seeds and hardware samples cross the wire.
 */
function readUpstreamTls(env: EnvReader, addrs: { variable: string; spec: UpstreamSpec }[]): ClientTls | undefined {
  const ca = readFileVar(env, "UPSTREAM_CA_FILE");
  const pair = readKeyPair(env, "UPSTREAM_CERT_FILE", "UPSTREAM_KEY_FILE");
  if (!ca) {
    if (pair) throw new ConfigError("UPSTREAM_CA_FILE", "must be set with UPSTREAM_CERT_FILE: the upstreams' certificates are checked against it");
    const remote = addrs.find((a) => !isLoopbackHost(a.spec.host));
    if (remote) {
      throw new ConfigError(
        remote.variable,
        `${remote.spec.spec} is not on this machine: set UPSTREAM_CA_FILE, UPSTREAM_CERT_FILE and UPSTREAM_KEY_FILE (npm run certs makes them) for mutual TLS`,
      );
    }
    return undefined;
  }
  pemCertificates("UPSTREAM_CA_FILE", ca);
  return { ca, ...pair };
}

/**
 * QUEUE_KEY_FILE: 32 random bytes, raw or as 64 hex digits (`openssl rand
 * -hex 32`). A key inside DB_PATH is refused: a copy of the database would
 * then carry the key that opens it. Errors never show the file's contents.
 */
function readQueueKey(env: EnvReader, dbPath: string): Buffer | undefined {
  const raw = readFileVar(env, "QUEUE_KEY_FILE");
  if (!raw) return undefined;
  const inDb = relative(resolve(dbPath), resolve(env.raw("QUEUE_KEY_FILE")!));
  if (inDb !== ".." && !inDb.startsWith(`..${sep}`) && !isAbsolute(inDb)) {
    throw new ConfigError("QUEUE_KEY_FILE", "is inside DB_PATH: keep the key where a copy or backup of the database does not reach");
  }
  const text = raw.toString("latin1").trim();
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, "hex") : raw.length === QUEUE_KEY_BYTES ? raw : undefined;
  if (!key) throw new ConfigError("QUEUE_KEY_FILE", `must hold ${QUEUE_KEY_BYTES} random bytes, raw or as 64 hex digits (openssl rand -hex 32); it holds ${raw.length} bytes`);
  if (key.every((b) => b === key[0])) throw new ConfigError("QUEUE_KEY_FILE", "holds one byte value repeated, not a random key");
  return key;
}

export function readGatewayEngineConfig(env: EnvReader): GatewayEngineConfig {
  const controllers = parseUpstreams("CONTROLLER_ADDR", env.list("CONTROLLER_ADDR", ["127.0.0.1:8081"]));
  const fortunas = parseUpstreams("FORTUNA_ADDR", env.list("FORTUNA_ADDR", ["127.0.0.1:8082"]));
  const upstreamTls = readUpstreamTls(env, [
    ...controllers.map((spec) => ({ variable: "CONTROLLER_ADDR", spec })),
    ...fortunas.map((spec) => ({ variable: "FORTUNA_ADDR", spec })),
  ]);
  const dbPath = env.str("DB_PATH", "./data/gateway");
  return {
    upstreamTls,
    dbPath,
    queueKey: readQueueKey(env, dbPath),
    controllers,
    fortunas,
    // The RPC's limits (gateway.proto UpdateQueueConfigRequest), the original LoKey's.
    trngQueueSize: env.int("TRNG_QUEUE_SIZE", 1000, fieldRange(UpdateQueueConfigRequestSchema.field.trngQueueSize)),
    fortunaQueueSize: env.int("FORTUNA_QUEUE_SIZE", 5000, fieldRange(UpdateQueueConfigRequestSchema.field.fortunaQueueSize)),
    reseedIntervalMs: env.int("FORTUNA_RESEED_INTERVAL_MS", 30_000, { min: 100, max: 86_400_000 }),
    fortunaItemBytes: env.int("FORTUNA_ITEM_BYTES", 1024, { min: 1, max: FORTUNA_MAX_REQUEST_BYTES }),
    trngPollIntervalMs: env.int("TRNG_POLL_INTERVAL_MS", 1000, { min: 1, max: 3_600_000 }),
    fortunaPollIntervalMs: env.int("FORTUNA_POLL_INTERVAL_MS", 5000, { min: 1, max: 3_600_000 }),
    upstreamTimeoutMs: env.int("UPSTREAM_TIMEOUT_MS", 5000, { min: 10, max: 600_000 }),
    retry: { minMs: 250, maxMs: env.int("UPSTREAM_RETRY_MAX_MS", 5000, { min: 10, max: 600_000 }) },
  };
}
