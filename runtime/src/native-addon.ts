// LoKey's own native addons (fortuna/native, runtime/native), built by
// `npm install` with node-gyp. An install with --ignore-scripts, or
// node_modules copied to another CPU, has none: each caller then runs
// without it and reports why, instead of failing to start.
import { createRequire } from "node:module";

/** The addon at `path` (relative to the module at `from`, its import.meta.url), or the first line of why it did not load. */
export function loadAddon<T>(from: string, path: string): { addon?: T; error?: string } {
  try {
    return { addon: createRequire(from)(path) as T };
  } catch (err) {
    return { error: err instanceof Error ? err.message.split("\n")[0] : String(err) };
  }
}
