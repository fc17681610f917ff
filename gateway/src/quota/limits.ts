// The quota limits of one client: a requests bucket and a bytes bucket per
// source, and how they are read: from QUOTA_* variables for everyone, and
// from an API key's line in API_KEYS_FILE for that key.
import type { EnvReader } from "../../../runtime/src/index.js";
import type { SourceName } from "../engine/types.js";
import type { Rate } from "./token-bucket.js";

export const SOURCES: readonly SourceName[] = ["trng", "fortuna"];
export const KINDS = ["requests", "bytes"] as const;
export type Kind = (typeof KINDS)[number];

export type SourceLimits = Record<Kind, Rate>;
export type Limits = Record<SourceName, SourceLimits>;

// Generous: the documented examples and `npm run bench` never meet them. The
// TRNG is scarce (the chip makes about 590 B/s of samples for everyone, two
// Random outputs each: controller/README.md): one client's
// share is about a fifth of it. Fortuna is a CSPRNG, limited only against
// floods. Each burst is a minute's worth, as when only _PER_MIN is set.
export const DEFAULT_LIMITS: Limits = {
  trng: { requests: { perMinute: 600, burst: 600 }, bytes: { perMinute: 7_168, burst: 7_168 } },
  fortuna: { requests: { perMinute: 6000, burst: 6000 }, bytes: { perMinute: 100_000_000, burst: 100_000_000 } },
};

export const OFF: Limits = {
  trng: { requests: { perMinute: 0, burst: 0 }, bytes: { perMinute: 0, burst: 0 } },
  fortuna: { requests: { perMinute: 0, burst: 0 }, bytes: { perMinute: 0, burst: 0 } },
};

/** Upper bound of any figure: 1 TiB (a minute of anything more is no limit). */
const MAX = 2 ** 40;

/** "trng_bytes_per_min": the suffix of QUOTA_TRNG_BYTES_PER_MIN, as API_KEYS_FILE spells it. */
export const settingName = (source: SourceName, kind: Kind, what: "per_min" | "burst") => `${source}_${kind}_${what}`;

/**
 * Reads the eight figures through `get(name, min)` (undefined: not given); a burst left
 * unset is one minute's worth of its rate.
 */
function readLimits(base: Limits, get: (name: string, min: number) => number | undefined): Limits {
  const out = structuredClone(base);
  for (const source of SOURCES) {
    for (const kind of KINDS) {
      const perMinute = get(settingName(source, kind, "per_min"), 0);
      const burst = get(settingName(source, kind, "burst"), 1);
      if (perMinute !== undefined) out[source][kind] = { perMinute, burst: burst ?? Math.max(1, perMinute) };
      else if (burst !== undefined) out[source][kind] = { ...out[source][kind], burst };
    }
  }
  return out;
}

/** QUOTA_<SOURCE>_<KIND>_PER_MIN and _BURST, e.g. QUOTA_TRNG_BYTES_PER_MIN (0: off). */
export function readEnvLimits(env: EnvReader): Limits {
  return readLimits(DEFAULT_LIMITS, (name, min) => {
    const variable = `QUOTA_${name.toUpperCase()}`;
    return env.raw(variable) === undefined ? undefined : env.int(variable, 0, { min, max: MAX });
  });
}

/** An API key's own figures (`trng_bytes_per_min=4096 ...`) over the QUOTA_* ones. */
export function readKeyLimits(base: Limits, settings: Map<string, string>, fail: (message: string) => never): Limits {
  const known = new Set(SOURCES.flatMap((s) => KINDS.flatMap((k) => [settingName(s, k, "per_min"), settingName(s, k, "burst")])));
  for (const name of settings.keys()) if (!known.has(name)) fail(`unknown setting ${JSON.stringify(name)} (known: ${[...known].join(", ")})`);
  return readLimits(base, (name, min) => {
    const v = settings.get(name);
    if (v === undefined) return undefined;
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > MAX) fail(`${name} must be an integer from ${min} to ${MAX}, got ${JSON.stringify(v)}`);
    return n;
  });
}

export const anyOn = (l: Limits): boolean => SOURCES.some((s) => KINDS.some((k) => l[s][k].perMinute > 0));
