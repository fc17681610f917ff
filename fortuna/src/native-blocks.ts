// The native GenerateBlocks (fortuna/native/generate_blocks.c), built by
// `npm install` (the root package's install script, `npm run build:native`)
// with node-gyp, as i2c-bus is. Loaded once; when it is missing
// (an install with --ignore-scripts, or node_modules copied to another CPU) the
// generator uses the portable path, which makes the same bytes more slowly.
import { loadAddon } from "../../runtime/src/native-addon.js";

export interface NativeBlocks {
  /**
   * out = AES-256(K, C) || AES-256(K, C+1) || ... (out.length / 16 blocks, the
   * counter little-endian), then K = the next two blocks, in place. Throws,
   * leaving key untouched, on a wrong key length, a counter outside [0, 2^128),
   * an out that is not whole blocks or overlaps key.
   */
  generateBlocks(key: Uint8Array, counter: bigint, out: Uint8Array): void;
}

const loaded = loadAddon<NativeBlocks>(import.meta.url, "../native/build/Release/fortuna_native.node");
export const nativeBlocks: NativeBlocks | undefined = loaded.addon;
/** Why the native code is unavailable, for the start-up log; undefined when it loaded. */
export const nativeBlocksError: string | undefined = loaded.error;
