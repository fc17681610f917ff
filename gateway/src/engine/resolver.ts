// Where the upstreams are. CONTROLLER_ADDR and FORTUNA_ADDR list entries of
// two kinds: `host:port` (one upstream, as before; a name among them is left
// to grpc-js, which balances over what it resolves to), and `dns:///name:port`
// (gRPC's own naming syntax, https://github.com/grpc/grpc/blob/master/doc/naming.md):
// every address behind the name is an upstream of its own, with its own
// stream, and the name is looked up again every DNS_REFRESH_MS, so upstreams
// added behind it (a Kubernetes headless Service's pods) are picked up and
// those gone are dropped.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ConfigError, type Logger } from "../../../runtime/src/index.js";
import { pause, Pulse } from "./lock.js";

/** One CONTROLLER_ADDR or FORTUNA_ADDR entry. */
export interface UpstreamSpec {
  /** As it is shown: `host:port` or `dns:///name:port`. */
  spec: string;
  host: string;
  port: number;
  /** Every address behind `host`, re-resolved; otherwise one upstream at `host:port`. */
  dns: boolean;
}

/** One upstream to dial. */
export interface Endpoint {
  /** host:port to dial (an IPv6 address in brackets); also the upstream's key. */
  address: string;
  /** The entry it comes from. */
  spec: string;
  /**
   * The name its TLS certificate must carry: the dns:/// name, since the
   * address dialled is a bare IP that no certificate names (RFC 6125 §6.4).
   */
  serverName?: string;
}

/**
 * How often dns:/// names are looked up again. A Kubernetes Service's
 * records follow its pods within seconds; a new upstream then waits at most
 * this long, and a lost one is already seen by its liveness watch.
 */
export const DNS_REFRESH_MS = 5_000;

const HOST_PORT = /^(?:([A-Za-z0-9.\-_]+)|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$/;

function parseOne(variable: string, raw: string): UpstreamSpec {
  const dns = /^dns:/i.test(raw);
  if (dns && !/^dns:\/\/\//i.test(raw)) {
    throw new ConfigError(variable, `${JSON.stringify(raw)}: write dns:///name:port (a DNS server of its own, dns://server/name, is not supported)`);
  }
  const rest = dns ? raw.slice("dns:///".length) : raw.replace(/^https?:\/\//, "").replace(/\/+$/, "");
  const m = HOST_PORT.exec(rest);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new ConfigError(variable, `must be host:port or dns:///name:port (a comma-separated list for several), got ${JSON.stringify(raw)}`);
  }
  const host = m[1] ?? m[2];
  if (dns && isIP(host)) throw new ConfigError(variable, `${JSON.stringify(raw)}: dns:/// takes a name; write an address as ${m[2] ? `[${host}]` : host}:${port}`);
  return { spec: dns ? `dns:///${host}:${port}` : m[2] ? `[${host}]:${port}` : `${host}:${port}`, host, port, dns };
}

/** The entries of one variable, validated; the same entry twice would be the same upstream twice. */
export function parseUpstreams(variable: string, entries: string[]): UpstreamSpec[] {
  const specs = entries.map((e) => parseOne(variable, e));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.spec)) throw new ConfigError(variable, `lists ${s.spec} twice`);
    seen.add(s.spec);
  }
  return specs;
}

const dialAddress = (ip: string, port: number) => (isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);

/** Every address a name has (A and AAAA records, or /etc/hosts), as the system resolver sees them. */
export type Lookup = (name: string) => Promise<string[]>;

export const systemLookup: Lookup = async (name) => (await lookup(name, { all: true })).map((a) => a.address);

/** The name exists but has no address now (a headless Service without ready pods): no upstreams, not an error. */
const NO_ADDRESSES = new Set(["ENOTFOUND", "ENODATA", "EAI_NONAME", "EAI_NODATA"]);

/**
 * The upstreams the entries stand for now. A name whose lookup fails for
 * another reason (the DNS server is unreachable) keeps the upstreams it last
 * had: their own liveness watch says whether they are still there.
 */
export async function resolveEndpoints(specs: UpstreamSpec[], find: Lookup, previous: Endpoint[], log: Logger): Promise<Endpoint[]> {
  const out = new Map<string, Endpoint>();
  for (const s of specs) {
    if (!s.dns) {
      out.set(s.spec, { address: s.spec, spec: s.spec });
      continue;
    }
    let ips: string[];
    try {
      ips = await find(s.host);
    } catch (err) {
      if (NO_ADDRESSES.has((err as NodeJS.ErrnoException).code ?? "")) {
        ips = [];
      } else {
        log.warn("looking up an upstream name failed; keeping its last addresses", { upstream: s.spec, error: err });
        for (const e of previous) if (e.spec === s.spec) out.set(e.address, e);
        continue;
      }
    }
    for (const ip of ips) {
      const address = dialAddress(ip, s.port);
      if (!out.has(address)) out.set(address, { address, spec: s.spec, serverName: s.host });
    }
  }
  return [...out.values()];
}

export interface EndpointWatch {
  /** The upstreams as of the last lookup. */
  current(): Endpoint[];
  /** Fires whenever the set changes. */
  readonly changed: Pulse;
  /** Resolves after the first lookup. */
  readonly ready: Promise<void>;
  /** Runs until `signal` aborts. */
  readonly done: Promise<void>;
}

/** Looks the entries up now and then every `refreshMs` while any is a dns:/// name, until `signal` aborts. */
export function watchEndpoints(specs: UpstreamSpec[], signal: AbortSignal, log: Logger, find: Lookup = systemLookup, refreshMs = DNS_REFRESH_MS): EndpointWatch {
  let endpoints: Endpoint[] = [];
  const changed = new Pulse();
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const key = (es: Endpoint[]) => es.map((e) => e.address).sort().join(",");
  const done = (async () => {
    do {
      const next = await resolveEndpoints(specs, find, endpoints, log);
      if (key(next) !== key(endpoints)) {
        if (specs.some((s) => s.dns)) log.info("upstream addresses", { upstreams: specs.map((s) => s.spec), addresses: next.map((e) => e.address) });
        endpoints = next;
        changed.fire();
      }
      markReady();
      if (!specs.some((s) => s.dns)) return;
      await pause(refreshMs, signal);
    } while (!signal.aborted);
  })();
  return { current: () => endpoints, changed, ready, done };
}
