// Structured logs: one JSON object per line on stderr, filtered by LOG_LEVEL.
// JSON lines keep `npm start`'s prefixed output greppable and feed log
// shippers without a parser per service.

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields` (e.g. a component name). */
  child(fields: LogFields): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stderr by default (stdout stays free for data). */
  write?: (line: string) => void;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return value;
}

export function createLogger(service: string, opts: LoggerOptions = {}, base: LogFields = {}): Logger {
  const level = opts.level ?? "info";
  const write = opts.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (rank[lvl] < rank[level]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, service, msg, ...base, ...fields }, jsonSafe));
  };
  return {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(service, opts, { ...base, ...fields }),
  };
}

/** A logger that drops everything; for tests that don't look at logs. */
export const silentLogger: Logger = createLogger("silent", { level: "silent" });
