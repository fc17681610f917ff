// Process entry for a service: read configuration once (failing fast with the
// variable's name), start the server, and shut down gracefully on signals.
import { ConfigError, EnvReader, readCommonConfig, type CommonConfig } from "./config.js";
import type { DescService } from "@bufbuild/protobuf";
import { Access, accessOf } from "./access.js";
import { createLogger, type Logger } from "./log.js";
import { startHeapTrimming } from "./heap-trim.js";
import { isLoopbackHost } from "./peer.js";
import { readSecurityConfig, type SecurityConfig } from "./security-config.js";
import { startServer, type RunningServer, type ServerOptions } from "./server.js";

export interface ServiceContext {
  env: EnvReader;
  common: CommonConfig;
  log: Logger;
}

/** What a service's build function returns: everything startServer needs but the shared settings. */
export type ServiceSetup = Omit<ServerOptions, "port" | "host" | "log" | "name" | "maxRequestBytes" | "shutdownTimeoutMs" | "security" | "connections" | "accessLog">;

export interface RunOptions {
  /** Where to listen when HOST is unset: upstreams default to loopback, the public gateway to every interface. */
  defaultHost?: string;
  /**
   * The services the process will serve, so that a HOST their access rules
   * forbid stops it before build() opens devices or databases.
   */
  services?: DescService[];
}

/**
 * Methods only other services may call need a port that proves who calls:
 * off loopback that means mutual TLS, or the service does not start.
 */
function requireCallerIdentity(services: DescService[], host: string, security: SecurityConfig): void {
  if (isLoopbackHost(host) || security.tls?.clientCa) return;
  const guarded = services.flatMap((s) => s.methods.filter((m) => accessOf(m) === Access.SERVICE).map((m) => m.name));
  if (guarded.length === 0) return;
  throw new ConfigError(
    "HOST",
    `${host} is reachable from other machines, and ${guarded.join(", ")} must only answer LoKey services: ` +
      "set TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE (npm run certs makes them), or HOST=127.0.0.1",
  );
}

/**
 * Several services in one process (scripts/one-process.ts, for the smallest
 * boards): each service reads its own environment (its PORT, its TLS files)
 * instead of process.env, and the host stops them all together.
 */
export interface ServiceHost {
  envOf(name: string): NodeJS.ProcessEnv;
  started(name: string, server: RunningServer): void;
}
let host: ServiceHost | undefined;

/** Makes every later runService() in this process answer to `h`. */
export function hostServices(h: ServiceHost): void {
  host = h;
}

/**
 * Calls `close` on SIGINT or SIGTERM, or when the supervisor that started us
 * over an IPC channel (npm start) goes away, even by SIGKILL; then exits. A
 * second signal means "now".
 */
export function closeOnSignals(log: Logger, close: () => Promise<void>): void {
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) process.exit(130);
    log.info("signal received", { signal });
    void close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  if (process.channel) {
    process.channel.unref();
    process.once("disconnect", () => stop("parent exited"));
  }
}

export async function runService(
  name: string,
  defaultPort: number,
  build: (ctx: ServiceContext) => Promise<ServiceSetup>,
  opts: RunOptions = {},
): Promise<RunningServer> {
  const env = new EnvReader(host?.envOf(name) ?? process.env);
  let log = createLogger(name);
  try {
    const common = readCommonConfig(env, defaultPort, opts.defaultHost);
    log = createLogger(name, { level: common.logLevel });
    const security = readSecurityConfig(env);
    requireCallerIdentity(opts.services ?? [], common.host, security);
    const setup = await build({ env, common, log });
    requireCallerIdentity(setup.bindings.map((b) => b.service), common.host, security);
    const server = await startServer({
      ...setup,
      security,
      name,
      log,
      port: common.port,
      host: common.host,
      maxRequestBytes: common.maxRequestBytes,
      shutdownTimeoutMs: common.shutdownTimeoutMs,
      connections: common.connections,
      accessLog: common.accessLog,
    });
    const trimming = startHeapTrimming();
    if (trimming.unavailable) log.info("freed memory stays resident: heap trimming is unavailable", { reason: trimming.unavailable });
    if (host) host.started(name, server);
    else closeOnSignals(log, () => server.close());
    return server;
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(`invalid configuration: ${err.message}`, { variable: err.variable });
    } else {
      log.error(`failed to start: ${err instanceof Error ? err.message : String(err)}`, { error: err });
    }
    process.exit(2);
  }
}
