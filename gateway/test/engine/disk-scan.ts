// Looking for bytes in a database's files: every 16-byte window of some bytes
// (served, queued), and whether any of them occurs anywhere in the files under
// a directory (RocksDB's WAL, SST files, logs, manifests).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const WINDOW = 16;

/** Every 16-byte window of some bytes, and where any of them occurs in the files under a directory. */
export class Windows {
  /** First four bytes of each window: a cheap filter before the exact look-up. */
  private readonly heads = new Set<number>();
  private readonly all = new Set<string>();

  add(bytes: Uint8Array): void {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i + WINDOW <= b.length; i++) {
      this.heads.add(b.readUInt32LE(i));
      this.all.add(b.toString("latin1", i, i + WINDOW));
    }
  }

  get size(): number {
    return this.all.size;
  }

  has(window: Uint8Array): boolean {
    return this.all.has(Buffer.from(window.buffer, window.byteOffset, window.byteLength).toString("latin1"));
  }

  /** Files under `dir` holding a window, with where. */
  foundIn(dir: string): string[] {
    const hits: string[] = [];
    for (const file of filesUnder(dir)) {
      const data = readFileSync(file);
      for (let i = 0; i + WINDOW <= data.length; i++) {
        if (this.heads.has(data.readUInt32LE(i)) && this.all.has(data.toString("latin1", i, i + WINDOW))) {
          hits.push(`${file} at ${i}`);
          break;
        }
      }
    }
    return hits;
  }
}

/** Every 16-byte window of `bytes`. */
export const windowsOf = (bytes: Uint8Array): Uint8Array[] => Array.from({ length: Math.max(0, bytes.length - WINDOW + 1) }, (_, i) => bytes.subarray(i, i + WINDOW));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}
