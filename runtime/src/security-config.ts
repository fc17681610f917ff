// The credentials a port uses, read and checked once at start-up: a missing
// file, a certificate that does not parse or a key that does not match stops
// the service with the variable's name (docs/security.md).
import { readFileSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { BlockList, isIP } from "node:net";
import { createSecureContext } from "node:tls";
import { ConfigError, type EnvReader } from "./config.js";

/** What a port needs to serve TLS, and to verify its clients (mutual TLS). */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** CA bundle that client certificates must chain to; unset: clients are not asked for one. */
  clientCa?: Buffer;
}

export interface SecurityConfig {
  tls?: TlsFiles;
  /** Subject CNs allowed to call ACCESS_SERVICE methods; empty: any certificate the CA signed. */
  allowedClients: string[];
  /** Addresses (and CIDR ranges) whose X-Forwarded-For is believed. */
  trustedProxies?: BlockList;
  /** The operator's bearer token for ACCESS_ADMIN methods. */
  adminToken?: Buffer;
}

export function readFileVar(env: EnvReader, name: string): Buffer | undefined {
  const path = env.raw(name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(name, `cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Every PEM certificate in a file, each checked to parse; at least one. */
export function pemCertificates(name: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString("latin1").match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(name, "holds no PEM certificate");
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new ConfigError(name, `holds a certificate that does not parse: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

export function pemPrivateKey(name: string, pem: Buffer): void {
  try {
    createPrivateKey(pem);
  } catch (err) {
    throw new ConfigError(name, `is not a readable private key: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A certificate and its key, checked to parse and to belong together. */
export function readKeyPair(env: EnvReader, certVar: string, keyVar: string): { cert: Buffer; key: Buffer } | undefined {
  const cert = readFileVar(env, certVar);
  const key = readFileVar(env, keyVar);
  if (!cert && !key) return undefined;
  if (!cert) throw new ConfigError(certVar, `must be set together with ${keyVar}`);
  if (!key) throw new ConfigError(keyVar, `must be set together with ${certVar}`);
  const [leaf] = pemCertificates(certVar, cert);
  pemPrivateKey(keyVar, key);
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new ConfigError(keyVar, `does not match the certificate in ${certVar}`);
  return { cert, key };
}

function readTls(env: EnvReader): TlsFiles | undefined {
  const pair = readKeyPair(env, "TLS_CERT_FILE", "TLS_KEY_FILE");
  const clientCa = readFileVar(env, "TLS_CLIENT_CA_FILE");
  if (clientCa) {
    if (!pair) throw new ConfigError("TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates are only asked for over TLS");
    pemCertificates("TLS_CLIENT_CA_FILE", clientCa);
  }
  if (!pair) return undefined;
  const tls = { ...pair, ...(clientCa && { clientCa }) };
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ca: tls.clientCa });
  } catch (err) {
    throw new ConfigError("TLS_CERT_FILE", `cannot be served: ${err instanceof Error ? err.message : String(err)}`);
  }
  return tls;
}

function readTrustedProxies(env: EnvReader): BlockList | undefined {
  const items = env.list("TRUSTED_PROXIES", []);
  if (items.length === 0) return undefined;
  const list = new BlockList();
  for (const item of items) {
    const [addr, bits, extra] = item.split("/");
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      throw new ConfigError("TRUSTED_PROXIES", `must be IP addresses or CIDR ranges, got ${JSON.stringify(item)}`);
    }
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

// A token short enough to guess is worse than none: it invites exposure.
const MIN_ADMIN_TOKEN_BYTES = 16;

function readAdminToken(env: EnvReader): Buffer | undefined {
  const fromEnv = env.raw("ADMIN_TOKEN");
  const file = readFileVar(env, "ADMIN_TOKEN_FILE");
  if (fromEnv !== undefined && file) throw new ConfigError("ADMIN_TOKEN", "set ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both");
  const name = file ? "ADMIN_TOKEN_FILE" : "ADMIN_TOKEN";
  const token = file ? file.toString("utf8").trim() : fromEnv;
  if (token === undefined) return undefined;
  if (!/^[\x21-\x7e]+$/.test(token)) throw new ConfigError(name, "must be printable ASCII without spaces");
  if (token.length < MIN_ADMIN_TOKEN_BYTES) throw new ConfigError(name, `must be at least ${MIN_ADMIN_TOKEN_BYTES} characters`);
  return Buffer.from(token, "utf8");
}

export function readSecurityConfig(env: EnvReader): SecurityConfig {
  const tls = readTls(env);
  const allowedClients = env.list("TLS_ALLOWED_CLIENTS", []);
  if (allowedClients.length > 0 && !tls?.clientCa) throw new ConfigError("TLS_ALLOWED_CLIENTS", "needs TLS_CLIENT_CA_FILE: identities come from verified client certificates");
  return { tls, allowedClients, trustedProxies: readTrustedProxies(env), adminToken: readAdminToken(env) };
}
