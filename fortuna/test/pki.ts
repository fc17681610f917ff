// Certificates for the mutual-TLS tests: a throwaway CA and one certificate
// per service (subject CN controller, fortuna, gateway), made by the same
// scripts/certs.ts that `npm run certs` runs, in a temporary directory.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certPaths, ensureCerts, type CertPaths, type SERVICE_NAMES } from "../../scripts/certs.js";

export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface Credentials {
  /** The CA this PKI's certificates chain to. */
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface TestPki {
  ca: Buffer;
  credentials(name: ServiceName): Credentials;
  /** Where the files are, for TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE. */
  files(name: ServiceName): CertPaths;
  remove(): void;
}

export function makePki(label: string): TestPki {
  const dir = mkdtempSync(join(tmpdir(), `lokey-fortuna-${label}-`));
  ensureCerts(dir);
  const ca = readFileSync(join(dir, "ca.crt"));
  return {
    ca,
    credentials(name) {
      const p = certPaths(dir, name);
      return { ca, cert: readFileSync(p.cert), key: readFileSync(p.key) };
    },
    files: (name) => certPaths(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
