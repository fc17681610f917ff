// Process entry for a service: read configuration once (failing fast with the
// variable's name), start the server, and shut down gracefully on signals.
import { ConfigError, EnvReader, readCommonConfig, type CommonConfig } from "./config.js";
import { createLogger, type Logger } from "./log.js";
import { startServer, type RunningServer, type ServerOptions } from "./server.js";

export interface ServiceContext {
  env: EnvReader;
  common: CommonConfig;
  log: Logger;
}

/** What a service's build function returns: everything startServer needs but the shared settings. */
export type ServiceSetup = Omit<ServerOptions, "port" | "host" | "log" | "name" | "maxRequestBytes" | "shutdownTimeoutMs">;

export async function runService(
  name: string,
  defaultPort: number,
  build: (ctx: ServiceContext) => Promise<ServiceSetup>,
): Promise<RunningServer> {
  const env = new EnvReader(process.env);
  let log = createLogger(name);
  try {
    const common = readCommonConfig(env, defaultPort);
    log = createLogger(name, { level: common.logLevel });
    const setup = await build({ env, common, log });
    const server = await startServer({
      ...setup,
      name,
      log,
      port: common.port,
      host: common.host,
      maxRequestBytes: common.maxRequestBytes,
      shutdownTimeoutMs: common.shutdownTimeoutMs,
    });
    let signals = 0;
    const stop = (signal: string) => {
      // A second Ctrl-C means "now".
      if (++signals > 1) process.exit(130);
      log.info("signal received", { signal });
      void server.close().then(() => process.exit(0));
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
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
