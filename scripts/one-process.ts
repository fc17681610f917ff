// One-process mode for the smallest boards (`npm start -- --one-process`, or
// LOKEY_ONE_PROCESS=true): the three services in this one process, on the
// same ports and with the same environment `npm start` gives each, talking
// to each other exactly as separate processes do, over gRPC on loopback with
// mutual TLS. What is saved is the per-process cost of Node itself
// (docs/performance.md, "Footprint"); what is given up is isolation: a crash
// in one service stops all three.
//
// Run directly (systemd, a container) as `node <build>/scripts/one-process.js
// [service...]` from a compiled tree (npm run build), or by npm start.
import { closeOnSignals, createLogger, hostServices, type RunningServer } from "../runtime/src/index.js";
import { ensureCerts } from "./certs.js";
import { certsDirOf, isServiceName, SERVICES, serviceEnv, type ServiceName } from "./stack.js";

const args = process.argv.slice(2);
const unknown = args.filter((a) => !isServiceName(a));
if (unknown.length > 0) {
  console.error(`unknown service ${unknown.join(", ")}; choose from ${SERVICES.map((s) => s.name).join(", ")}`);
  process.exit(2);
}
// Upstreams first, so the gateway finds them at once.
const chosen = SERVICES.filter((s) => args.length === 0 || args.includes(s.name));

const log = createLogger("lokey");
const made = ensureCerts(certsDirOf(process.env));
if (made.length > 0) log.info("made certificates for mutual TLS", { dir: certsDirOf(process.env), files: made });

const envs = new Map(chosen.map((s) => [s.name as string, serviceEnv(s, process.env)]));
const servers: { name: ServiceName; server: RunningServer }[] = [];
hostServices({
  envOf: (name) => envs.get(name) ?? process.env,
  started: (name, server) => void servers.push({ name: name as ServiceName, server }),
});
// The gateway stops first, so it never serves from upstreams already gone.
closeOnSignals(log, async () => {
  for (const { server } of servers.reverse()) await server.close();
});

for (const s of chosen) await import(`../${s.name}/src/main.js`);
log.info("serving in one process", { services: servers.map((s) => s.name) });
