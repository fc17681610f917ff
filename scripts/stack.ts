// The three services as `npm start` runs them, whether as three processes
// (scripts/start.ts) or in one (scripts/one-process.ts): their default ports,
// and the environment each one sees.
import { certPaths, DEFAULT_CERTS_DIR } from "./certs.js";

export const SERVICES = [
  { name: "controller", colour: 36, portVar: "CONTROLLER_PORT", port: 8081 },
  { name: "fortuna", colour: 35, portVar: "FORTUNA_PORT", port: 8082 },
  { name: "gateway", colour: 33, portVar: "GATEWAY_PORT", port: 8080 },
] as const;
export type Service = (typeof SERVICES)[number];
export type ServiceName = Service["name"];

export const isServiceName = (s: string): s is ServiceName => SERVICES.some((x) => x.name === s);

export const certsDirOf = (env: NodeJS.ProcessEnv): string => env.CERTS_DIR ?? DEFAULT_CERTS_DIR;

// PORT is per process, so the whole stack is moved with one variable per
// service (e.g. to run beside another copy); the gateway follows its upstreams.
// A plain PORT means the public one, the gateway's, as for one service.
const portOf = (s: Service, env: NodeJS.ProcessEnv) =>
  env[s.portVar] || (s.name === "gateway" ? env.PORT : undefined) || String(s.port);

// Mutual TLS between the gateway and its upstreams from the first start: a
// local process without the gateway's certificate cannot seed Fortuna or read
// the chip (docs/security.md). Variables already set win.
function tlsEnv(name: ServiceName, certsDir: string, env: NodeJS.ProcessEnv): void {
  const p = certPaths(certsDir, name);
  if (name === "gateway") {
    env.UPSTREAM_CA_FILE ??= p.ca;
    env.UPSTREAM_CERT_FILE ??= p.cert;
    env.UPSTREAM_KEY_FILE ??= p.key;
  } else {
    env.TLS_CERT_FILE ??= p.cert;
    env.TLS_KEY_FILE ??= p.key;
    env.TLS_CLIENT_CA_FILE ??= p.ca;
    env.TLS_ALLOWED_CLIENTS ??= "gateway";
  }
}

/** The environment service `s` runs with, derived from the stack's own `base`. */
export function serviceEnv(s: Service, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, PORT: portOf(s, base) };
  tlsEnv(s.name, certsDirOf(base), env);
  if (s.name === "gateway") {
    env.CONTROLLER_ADDR ??= `127.0.0.1:${portOf(SERVICES[0], base)}`;
    env.FORTUNA_ADDR ??= `127.0.0.1:${portOf(SERVICES[1], base)}`;
  }
  return env;
}
