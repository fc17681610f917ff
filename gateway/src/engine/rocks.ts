// A promise face for the callback API of the `rocksdb` package (leveldown
// style), limited to what the queue store needs: binary keys and values,
// atomic batches with an explicit sync flag, and bounded range scans.
import { createRequire } from "node:module";
import type * as RocksTypes from "rocksdb";

// The package is CommonJS while its typings declare an ES default export;
// requiring it directly gives the constructor the typings describe.
type RocksDB = ReturnType<typeof RocksTypes.default.default>;
const RocksDB = createRequire(import.meta.url)("rocksdb") as typeof RocksTypes.default.default;

/**
 * Queued random bytes are written once, read once and deleted soon after:
 * compressing them is wasted work (random data does not compress), and a
 * larger memtable lets most items die before they are flushed to a file.
 */
const TUNING = { compression: false, writeBufferSize: 32 * 1024 * 1024 };

export type BatchOp = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

export interface RangeOptions {
  gte?: Buffer;
  gt?: Buffer;
  lt: Buffer;
  limit?: number;
  reverse?: boolean;
  /**
   * Bytes the native iterator reads ahead per trip to the thread pool
   * (the package's default is 16 KiB, i.e. a round trip per 16 items of 1 KiB).
   */
  readAheadBytes?: number;
  /** false: keys only (the visitor gets empty values). */
  values?: boolean;
}

const EMPTY = Buffer.alloc(0);

export class Rocks {
  private constructor(
    private readonly db: RocksDB,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<Rocks> {
    const db = RocksDB(path);
    await new Promise<void>((resolve, reject) =>
      db.open({ createIfMissing: true, errorIfExists: false, ...TUNING }, (err) => (err ? reject(err) : resolve())),
    );
    return new Rocks(db, path);
  }

  /** One atomic write; `sync` waits for the WAL to reach the disk (fsync) before resolving. */
  batch(ops: BatchOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.db.batch(ops as never, { sync }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Visits [key, value] pairs of a range in key order until `visit` returns false. */
  async scan(opts: RangeOptions, visit: (key: Buffer, value: Buffer) => boolean | void): Promise<void> {
    const { readAheadBytes, values = true, ...range } = opts;
    const it = this.db.iterator({
      ...range,
      ...(readAheadBytes ? { highWaterMark: readAheadBytes } : {}),
      limit: opts.limit ?? -1,
      keys: true,
      values,
      keyAsBuffer: true,
      valueAsBuffer: true,
    } as Parameters<RocksDB["iterator"]>[0]);
    try {
      for (;;) {
        const entry = await new Promise<[Buffer, Buffer] | undefined>((resolve, reject) =>
          it.next((err, key, value) => (err ? reject(err) : resolve(key === undefined ? undefined : [key as Buffer, (value as Buffer | undefined) ?? EMPTY]))),
        );
        if (entry === undefined || visit(entry[0], entry[1]) === false) return;
      }
    } finally {
      await new Promise<void>((resolve) => it.end(() => resolve()));
    }
  }

  /** Entries of a range, at most `limit`. */
  async range(opts: RangeOptions): Promise<[Buffer, Buffer][]> {
    const out: [Buffer, Buffer][] = [];
    await this.scan(opts, (k, v) => {
      out.push([k, v]);
    });
    return out;
  }

  /**
   * Rewrites the files holding [start, end) (the memtable is flushed first),
   * so deleted values in that range leave the database's files.
   */
  compactRange(start: Buffer, end: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.db.compactRange(start, end, (err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
