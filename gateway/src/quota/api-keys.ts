// API keys from API_KEYS_FILE: who a caller is when it sends `X-API-Key`.
// One key a line, `name:key` or a bare key, optionally followed by that key's
// own limits (`trng_bytes_per_min=4096`); blank lines and `#` lines are
// skipped. Keys are kept as SHA-256 digests: a lookup is one hash and a Map
// read, and what the caller sent is never compared byte by byte.
import { hash } from "node:crypto";
import { ConfigError, readFileVar, type EnvReader } from "../../../runtime/src/index.js";
import { readKeyLimits, type Limits } from "./limits.js";

export const API_KEYS_VARIABLE = "API_KEYS_FILE";

export interface ApiKey {
  /** Who the key's holder is counted as: "key:<name>". */
  name: string;
  limits: Limits;
}

// A key short enough to guess is someone else's quota (the same floor as ADMIN_TOKEN).
const MIN_KEY_CHARS = 16;
const KEY = /^[\x21-\x7e]+$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

// crypto.hash, the one-shot form: several times cheaper than createHash() per lookup.
const digest = (key: string) => hash("sha256", key, "base64");

export class ApiKeys {
  private constructor(private readonly byDigest: Map<string, ApiKey>) {}

  get size(): number {
    return this.byDigest.size;
  }

  lookup(given: string): ApiKey | undefined {
    return this.byDigest.get(digest(given));
  }

  /** Parses the file's text; every error names `variable` and the line, never the key. */
  static parse(text: string, defaults: Limits, variable = API_KEYS_VARIABLE): ApiKeys {
    const byDigest = new Map<string, ApiKey>();
    const lineOf = new Map<string, number>();
    const names = new Map<string, number>();
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      const fail = (message: string): never => {
        throw new ConfigError(variable, `line ${n}: ${message}`);
      };
      const line = lines[i].trim();
      if (line === "" || line.startsWith("#")) continue;
      const [credential, ...rest] = line.split(/\s+/);
      const colon = credential.indexOf(":");
      const name = colon >= 0 ? credential.slice(0, colon) : `line-${n}`;
      const key = colon >= 0 ? credential.slice(colon + 1) : credential;
      if (!NAME.test(name)) fail("a name is 1 to 64 of A-Z a-z 0-9 . _ - (a key containing ':' needs a name before it)");
      if (!KEY.test(key) || key.length < MIN_KEY_CHARS) fail(`a key is at least ${MIN_KEY_CHARS} printable ASCII characters without spaces`);
      const settings = new Map<string, string>();
      for (const item of rest) {
        const eq = item.indexOf("=");
        if (eq <= 0) fail(`expected setting=value after the key, got ${JSON.stringify(item)}`);
        settings.set(item.slice(0, eq), item.slice(eq + 1));
      }
      const d = digest(key);
      if (lineOf.has(d)) fail(`the same key as line ${lineOf.get(d)}`);
      if (names.has(name)) fail(`the name ${JSON.stringify(name)} is already used on line ${names.get(name)}`);
      lineOf.set(d, n);
      names.set(name, n);
      byDigest.set(d, { name, limits: readKeyLimits(defaults, settings, fail) });
    }
    if (byDigest.size === 0) throw new ConfigError(variable, "holds no API keys (one a line, `name:key` or a bare key)");
    return new ApiKeys(byDigest);
  }
}

/** The keys of API_KEYS_FILE; undefined when it is unset. */
export function readApiKeys(env: EnvReader, defaults: Limits): ApiKeys | undefined {
  const file = readFileVar(env, API_KEYS_VARIABLE);
  return file === undefined ? undefined : ApiKeys.parse(file.toString("utf8"), defaults);
}
