// Prometheus metrics every service has (docs/operations.md): per protocol,
// route and code, a request counter and a latency histogram, and the
// requests in flight, in the service's registry beside its own metrics and
// the process's. Labels are bounded sets (request-outcome.ts): never a raw
// URL, a client address or anything else a client chooses.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from "prom-client";
import { AccessEntry } from "./access-log.js";
import { heapTrimStats } from "./heap-trim.js";
import type { Logger } from "./log.js";
import { codeOfStatus, openOutcome } from "./request-outcome.js";
import type { NodeRequest, NodeResponse } from "./rest-request.js";

// Gauges whose names end in _total, which `promtool check metrics` refuses
// (Prometheus naming: _total is for counters); each is the sum of a labelled
// gauge prom-client also exports (nodejs_active_handles{type=...}, ...).
const MISNAMED_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** A registry with the process metrics prom-client collects at scrape time (CPU, memory, event loop, GC). */
export function metricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  // runtime/src/heap-trim.ts: how much freed memory went back to the system.
  counterFrom(registry, {
    name: "lokey_heap_trims_total",
    help: "Trims of the C heap after garbage collections (malloc_trim), each giving its free pages back to the system",
    labelNames: [],
    read: () => [[{}, heapTrimStats().trims]],
  });
  counterFrom(registry, {
    name: "lokey_heap_trimmed_bytes_total",
    help: "How far the resident set fell across those trims, in bytes",
    labelNames: [],
    read: () => [[{}, heapTrimStats().releasedBytes]],
  });
  return registry;
}

/** The metric of that name already in the registry (a second server on the same registry), else a new one. */
function once<M extends Metric>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export interface CounterFrom<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Every series' count now; a series is exported from its first read, at zero. */
  read: () => Iterable<readonly [Record<L, string>, number | bigint]>;
}

/**
 * A Prometheus counter over counts a service keeps itself, read at scrape
 * time and counted from when the metric was made (as Prometheus counters
 * count from process start): the service's hot paths do no metrics work.
 */
export function counterFrom<L extends string>(registry: Registry, spec: CounterFrom<L>): void {
  const key = (labels: Record<L, string>) => spec.labelNames.map((l) => labels[l]).join("\0");
  const seen = new Map<string, number>();
  for (const [labels, value] of spec.read()) seen.set(key(labels), Number(value));
  once(registry, spec.name, () =>
    new Counter<L>({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames,
      registers: [registry],
      collect() {
        for (const [labels, value] of spec.read()) {
          const k = key(labels);
          const before = seen.get(k) ?? 0;
          const now = Number(value);
          this.inc(labels as never, Math.max(0, now - before));
          seen.set(k, Math.max(before, now));
        }
      },
    }),
  );
}

// Seconds: from a cached REST answer (well under a millisecond) to streams
// that run for minutes (their duration is how long the client kept reading).
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];
const LABELS = ["protocol", "route", "code"] as const;

export interface RequestTrackerOptions {
  registry: Registry;
  log: Logger;
  /** One access log line per request (ACCESS_LOG). */
  accessLog: boolean;
  /** The client's address (through trusted proxies), for the access log. */
  clientOf: (req: NodeRequest) => string;
}

/**
 * Called once per request as it arrives; the function it returns is called
 * when the response closes (the server's own close listener calls it),
 * and counts the request, and logs it if asked.
 */
export type RequestTracker = (req: NodeRequest, res: NodeResponse) => () => void;

interface Series {
  count: { inc(): void };
  time: { observe(v: number): void };
}

export function requestTracker(opts: RequestTrackerOptions): RequestTracker {
  const { registry, log } = opts;
  const total = once(registry, "lokey_requests_total", () => new Counter({ name: "lokey_requests_total", help: "Requests answered or cut off, by protocol, route and status code", labelNames: LABELS, registers: [registry] }));
  const seconds = once(registry, "lokey_request_duration_seconds", () =>
    new Histogram({ name: "lokey_request_duration_seconds", help: "Time from a request's arrival until its response closed (streams: while the client read)", labelNames: LABELS, buckets: BUCKETS, registers: [registry] }),
  );
  const inFlight = once(registry, "lokey_requests_in_flight", () => new Gauge({ name: "lokey_requests_in_flight", help: "Requests whose response has not closed yet (open streams included)", registers: [registry] }));
  // Each series' label children are made once, found by the label values
  // (constant strings, whose hashes V8 keeps) without building a key per request.
  const series = new Map<string, Map<string, Map<string, Series>>>();
  const record = (protocol: string, route: string, code: string, s: number) => {
    let byRoute = series.get(protocol);
    if (!byRoute) series.set(protocol, (byRoute = new Map()));
    let byCode = byRoute.get(route);
    if (!byCode) byRoute.set(route, (byCode = new Map()));
    let one = byCode.get(code);
    if (!one) byCode.set(code, (one = { count: total.labels(protocol, route, code), time: seconds.labels(protocol, route, code) }));
    one.count.inc();
    one.time.observe(s);
  };

  return (req, res) => {
    const outcome = openOutcome(res);
    const start = performance.now();
    inFlight.inc();
    const access = opts.accessLog ? new AccessEntry(req, res, opts.clientOf(req)) : undefined;
    return () => {
      inFlight.dec();
      const ms = performance.now() - start;
      const finished = res.writableFinished;
      // Not finished and no code from the protocol: the client went away (request-outcome.ts clientGone).
      const code = outcome.code ?? (finished ? codeOfStatus(res.statusCode) : "canceled");
      record(outcome.protocol, outcome.route, code, ms / 1000);
      // A client that goes away is one line at most, and only at debug level
      // (or the access log's line): ending a stream by disconnecting is normal use.
      if (access) access.write(log, outcome, code, ms);
      else if (!finished && outcome.code === undefined) log.debug("client went away before the answer was complete", { protocol: outcome.protocol, route: outcome.route, durationMs: Math.round(ms) });
    };
  };
}
