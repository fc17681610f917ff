// `npm run certs [DIR]`: a local certificate authority and one certificate per
// service, for mutual TLS between the gateway and its upstreams
// (docs/security.md). Made with the openssl command-line tool; existing files
// are kept, so it is safe to run again. `npm start` calls ensureCerts() on
// first run. `--force` makes everything anew.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Each service's certificate names it (subject CN = its identity for TLS_ALLOWED_CLIENTS). */
export const SERVICE_NAMES = ["controller", "fortuna", "gateway"] as const;

export const DEFAULT_CERTS_DIR = "certs";

export interface CertPaths {
  ca: string;
  cert: string;
  key: string;
}

export const certPaths = (dir: string, service: string): CertPaths => ({
  ca: join(dir, "ca.crt"),
  cert: join(dir, `${service}.crt`),
  key: join(dir, `${service}.key`),
});

// Long enough to leave running, short enough that a lost key expires:
// the CA ten years, service certificates 825 days (the CA/Browser Forum's old
// ceiling, which many TLS stacks still enforce).
const CA_DAYS = 3650;
const LEAF_DAYS = 825;

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT") throw new Error("the openssl command is needed to make certificates (Debian: apt-get install openssl)");
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

// P-256 keys: small and fast to handshake on a Raspberry Pi, and every gRPC stack speaks them.
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function makeCa(dir: string): void {
  openssl(
    ["req", "-x509", ...NEW_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", String(CA_DAYS), "-subj", "/O=LoKey/CN=LoKey local CA",
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    dir,
  );
}

function makeLeaf(dir: string, name: string, extraHosts: string[]): void {
  const hosts = [name, "localhost", ...extraHosts];
  const san = [...hosts.map((h) => `DNS:${h}`), "IP:127.0.0.1", "IP:::1"].join(",");
  const ext = `${name}.ext`;
  writeFileSync(
    join(dir, ext),
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      // Each service is a server to some and a client to others.
      "extendedKeyUsage=serverAuth,clientAuth",
      `subjectAltName=${san}`,
    ].join("\n") + "\n",
  );
  openssl(["req", "-new", ...NEW_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/O=LoKey/CN=${name}`], dir);
  openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", `0x${randomSerial()}`,
      "-days", String(LEAF_DAYS), "-extfile", ext, "-out", `${name}.crt`],
    dir,
  );
  rmSync(join(dir, `${name}.csr`));
  rmSync(join(dir, ext));
}

const randomSerial = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("").replace(/^[89a-f]/, "7");

function signedBy(certFile: string, ca: X509Certificate): boolean {
  if (!existsSync(certFile)) return false;
  try {
    return new X509Certificate(readFileSync(certFile)).verify(ca.publicKey);
  } catch {
    return false;
  }
}

export interface EnsureOptions {
  force?: boolean;
  /** More DNS names for every service certificate (e.g. Kubernetes Service names). */
  extraHosts?: string[];
}

/** Makes what is missing under `dir`; returns the names of the files it wrote. */
export function ensureCerts(dir: string, opts: EnsureOptions = {}): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  const caMissing = !existsSync(join(dir, "ca.crt")) || !existsSync(join(dir, "ca.key"));
  if (opts.force || caMissing) {
    makeCa(dir);
    made.push("ca.crt");
  }
  const ca = new X509Certificate(readFileSync(join(dir, "ca.crt")));
  for (const name of SERVICE_NAMES) {
    const p = certPaths(dir, name);
    // A new CA invalidates every certificate the old one signed (also one
    // left behind by a run that stopped half way).
    if (opts.force || caMissing || !signedBy(p.cert, ca) || !existsSync(p.key)) {
      makeLeaf(dir, name, opts.extraHosts ?? []);
      made.push(`${name}.crt`);
    }
  }
  for (const name of ["ca.key", ...SERVICE_NAMES.map((n) => `${n}.key`)]) chmodSync(join(dir, name), 0o600);
  return made;
}

// The command line: `npm run certs -- [DIR] [--force] [--host [SERVICE=]NAME]...`.
// --host adds a DNS name to certificates' SANs, for the names services are
// reached at elsewhere (Kubernetes Services: deploy/kubernetes/README.md).
// SERVICE=NAME gives it to that service's certificate alone: the gateway
// tells its upstreams apart by these names, so one upstream's name on another
// upstream's certificate would let that one pose as it. A bare NAME goes on
// all three. A certificate lacking a requested name is made again under the
// same CA, with this run's names, so names can be added to a set in use
// without a new CA: name every one each time.
interface CliArgs {
  dir: string;
  force: boolean;
  /** Extra names per service; the key "" holds those for every service. */
  hosts: Map<string, string[]>;
}

const DNS_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

function parseCli(argv: string[]): CliArgs {
  const hosts = new Map<string, string[]>();
  let force = false;
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--force") force = true;
    else if (a === "--host" || a.startsWith("--host=")) {
      const spec = a === "--host" ? argv[++i] : a.slice("--host=".length);
      if (!spec) throw new Error("--host needs a value: NAME or SERVICE=NAME");
      const eq = spec.indexOf("=");
      const [service, name] = eq < 0 ? ["", spec] : [spec.slice(0, eq), spec.slice(eq + 1)];
      if (eq >= 0 && !(SERVICE_NAMES as readonly string[]).includes(service)) throw new Error(`--host ${spec}: the service must be one of ${SERVICE_NAMES.join(", ")}`);
      if (!DNS_NAME.test(name) || name.length > 253) throw new Error(`--host ${spec}: ${JSON.stringify(name)} is not a DNS name`);
      hosts.set(service, [...(hosts.get(service) ?? []), name]);
    } else if (a.startsWith("--")) throw new Error(`unknown option ${a} (known: --force, --host [SERVICE=]NAME)`);
    else if (dir === undefined) dir = a;
    else throw new Error(`one directory only, got ${dir} and ${a}`);
  }
  return { dir: dir ?? process.env.CERTS_DIR ?? DEFAULT_CERTS_DIR, force, hosts };
}

/** Makes `service`'s certificate again under the CA in `dir`, with `hosts` among its SANs. */
function reissue(dir: string, service: string, hosts: string[]): void {
  // ensureCerts keeps a CA it finds, so a scratch directory holding only the
  // CA yields leaves signed by it; this service's pair is taken from there.
  const scratch = mkdtempSync(join(dir, ".reissue-"));
  try {
    for (const f of ["ca.crt", "ca.key"]) copyFileSync(join(dir, f), join(scratch, f));
    ensureCerts(scratch, { extraHosts: hosts });
    const from = certPaths(scratch, service);
    const to = certPaths(dir, service);
    copyFileSync(from.key, to.key);
    chmodSync(to.key, 0o600);
    copyFileSync(from.cert, to.cert);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { dir, force, hosts } = parseCli(process.argv.slice(2));
    const shared = hosts.get("") ?? [];
    const made = ensureCerts(dir, { force, extraHosts: shared });
    const renamed: string[] = [];
    for (const service of SERVICE_NAMES) {
      const want = [...shared, ...(hosts.get(service) ?? [])];
      const cert = new X509Certificate(readFileSync(certPaths(dir, service).cert));
      // Only the SANs count: a TLS client ignores the subject once SANs exist.
      const missing = want.filter((h) => cert.checkHost(h, { subject: "never" }) === undefined);
      if (missing.length === 0) continue;
      reissue(dir, service, want);
      renamed.push(`${service}.crt (${missing.join(", ")})`);
    }
    if (made.length) console.log(`wrote ${made.join(", ")} under ${dir}/`);
    if (renamed.length) console.log(`made again with the names asked for: ${renamed.join(", ")}`);
    if (!made.length && !renamed.length) console.log(`certificates under ${dir}/ are complete; --force makes new ones`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
