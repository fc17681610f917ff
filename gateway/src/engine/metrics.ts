// Prometheus metrics. The documented gauges (docs/reference/rest-api.md, "/metrics") are
// computed when scraped, from one status snapshot per scrape, so they are
// never stale. Counters of items received/dropped/consumed per source follow
// the store's persisted counters (counted from this process's start, as
// Prometheus counters are); bytes served are counted as they leave. Each
// upstream's state is read from its link at scrape time. docs/operations.md
// lists them all, with the request metrics the runtime adds.
import { Counter, Gauge, type Registry } from "prom-client";
import { counterFrom, metricsRegistry } from "../../../runtime/src/index.js";
import type { QueueStore, SourceCounters } from "./queue-store.js";
import { SOURCES } from "./queue-store.js";
import type { EngineStatus, SourceName } from "./types.js";
import type { Link } from "./upstreams.js";

/** Scrapes within this window share one status snapshot (each gauge collects separately). */
const SNAPSHOT_TTL_MS = 200;

export interface EngineMetrics {
  registry: Registry;
  served(source: SourceName, bytes: number): void;
}

/** One upstream as the metrics label it. */
export interface UpstreamLink {
  kind: "controller" | "fortuna";
  link: Link;
}

export function createMetrics(store: QueueStore, status: () => Promise<EngineStatus>, upstreams: () => UpstreamLink[] = () => []): EngineMetrics {
  const registry = metricsRegistry();

  let snapshot: { at: number; status: Promise<EngineStatus> } | undefined;
  const current = () => {
    const now = Date.now();
    if (!snapshot || now - snapshot.at > SNAPSHOT_TTL_MS) snapshot = { at: now, status: status() };
    return snapshot.status;
  };

  const gauge = (name: string, help: string, pick: (s: EngineStatus) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(pick(await current()));
      },
    });
  for (const s of SOURCES) {
    gauge(`${s}_queue_current`, `Items in the ${s} queue`, (st) => st[s].queueCurrent);
    gauge(`${s}_queue_capacity`, `Capacity of the ${s} queue in items`, (st) => st[s].queueCapacity);
    gauge(`${s}_queue_percentage`, `Fill level of the ${s} queue in percent`, (st) => st[s].queuePercentage);
    gauge(`${s}_consumed`, `Items of the ${s} queue consumed (fully served) in total`, (st) => Number(st[s].consumedCount));
    gauge(`${s}_unconsumed`, `Items of the ${s} queue not consumed yet`, (st) => Number(st[s].unconsumedCount));
    gauge(`${s}_queue_dropped`, `Items dropped from the ${s} queue for lack of room`, (st) => Number(st[s].queueDropped));
    gauge(`${s}_connected`, `1 while the ${s} upstream stream is open`, (st) => (st[s].connected ? 1 : 0));
  }
  gauge("database_size_bytes", "Size of the gateway database on disk", (st) => Number(st.database.sizeBytes));

  const fromCounters = (name: string, help: string, field: keyof SourceCounters) =>
    counterFrom(registry, { name, help, labelNames: ["source"], read: () => SOURCES.map((s) => [{ source: s }, store.counters(s)[field]] as const) });
  fromCounters("gateway_items_received_total", "Items received from upstream streams", "total_generated");
  fromCounters("gateway_items_dropped_total", "Items dropped for lack of queue room", "dropped");
  fromCounters("gateway_items_consumed_total", "Items removed because they were fully served", "consumed");
  const servedBytes = new Counter({
    name: "gateway_bytes_served_total",
    help: "Random bytes handed to clients (including Fortuna bytes pulled directly)",
    labelNames: ["source"],
    registers: [registry],
  });
  for (const s of SOURCES) servedBytes.inc({ source: s }, 0);
  upstreamGauges(registry, upstreams);

  return { registry, served: (source, bytes) => servedBytes.inc({ source }, bytes) };
}

/** Per upstream, by address: the set changes as DNS names resolve to other addresses (members.ts). */
function upstreamGauges(registry: Registry, upstreams: () => UpstreamLink[]): void {
  const gauge = (name: string, help: string, value: (l: Link) => boolean) =>
    new Gauge({
      name,
      help,
      labelNames: ["kind", "upstream"],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of upstreams()) this.set({ kind: u.kind, upstream: u.link.address }, value(u.link) ? 1 : 0);
      },
    });
  gauge("lokey_upstream_up", "1 while the upstream answers (its last call or liveness check)", (l) => l.reachable);
  gauge("lokey_upstream_streaming", "1 while the upstream's data stream is open and its liveness check answers", (l) => l.streaming && l.live);
}
