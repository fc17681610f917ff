// Configuration comes from environment variables, read once at start-up.
// Every accessor validates and throws a ConfigError that names the variable,
// so a typo in a deployment fails at boot instead of at the first request.
import type { ConnectionLimits } from "./connections.js";
import { LOG_LEVELS, type LogLevel } from "./log.js";

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

export interface IntOptions {
  min?: number;
  max?: number;
}

export class EnvReader {
  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  /** The raw value, or undefined when unset or blank. */
  raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  }

  str(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, opts: IntOptions = {}): number {
    const v = this.raw(name);
    const n = v === undefined ? fallback : /^[+-]?\d+$/.test(v) ? Number(v) : NaN;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = opts;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (["true", "1", "yes", "on"].includes(v)) return true;
    if (["false", "0", "no", "off"].includes(v)) return false;
    throw new ConfigError(name, `must be true or false, got ${JSON.stringify(v)}`);
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
    }
    return v as T;
  }

  /** A comma-separated list of non-empty items. */
  list(name: string, fallback: string[]): string[] {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const items = v.split(",").map((s) => s.trim());
    if (items.some((s) => s === "")) throw new ConfigError(name, `has an empty item in ${JSON.stringify(v)}`);
    return items;
  }
}

/** Settings every service shares. */
export interface CommonConfig {
  port: number;
  host: string;
  logLevel: LogLevel;
  /** Longest wait for in-flight requests on SIGINT/SIGTERM before closing hard. */
  shutdownTimeoutMs: number;
  /** Largest request body/message accepted on any protocol. */
  maxRequestBytes: number;
  /** Timeouts and limits of every connection to the port (runtime/src/connections.ts). */
  connections: ConnectionLimits;
  /** One log line per request (ACCESS_LOG; runtime/src/access-log.ts). */
  accessLog: boolean;
}

export function readCommonConfig(env: EnvReader, defaultPort: number, defaultHost = "0.0.0.0"): CommonConfig {
  return {
    port: env.int("PORT", defaultPort, { min: 0, max: 65535 }),
    host: env.str("HOST", defaultHost),
    logLevel: env.oneOf("LOG_LEVEL", "info", LOG_LEVELS),
    shutdownTimeoutMs: env.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 0, max: 600_000 }),
    maxRequestBytes: env.int("MAX_REQUEST_BYTES", 4 * 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    connections: readConnectionLimits(env),
    accessLog: env.bool("ACCESS_LOG", false),
  };
}

function readConnectionLimits(env: EnvReader): ConnectionLimits {
  const day = 24 * 3600 * 1000;
  const headersTimeoutMs = env.int("HTTP_HEADERS_TIMEOUT_MS", 60_000, { min: 100, max: day });
  const requestTimeoutMs = env.int("HTTP_REQUEST_TIMEOUT_MS", 300_000, { min: 100, max: day });
  // Node refuses a headers timeout longer than the request timeout (docs: server.headersTimeout).
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError("HTTP_HEADERS_TIMEOUT_MS", `must not exceed HTTP_REQUEST_TIMEOUT_MS (${requestTimeoutMs}), got ${headersTimeoutMs}`);
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    idleTimeoutMs: env.int("HTTP_IDLE_TIMEOUT_MS", 60_000, { min: 100, max: day }),
    maxConcurrentStreams: env.int("HTTP2_MAX_CONCURRENT_STREAMS", 100, { min: 1, max: 2 ** 31 - 1 }),
    maxConnectionsPerClient: env.int("MAX_CONNECTIONS_PER_CLIENT", 256, { min: 1, max: 1_000_000 }),
  };
}
