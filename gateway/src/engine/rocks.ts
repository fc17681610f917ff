// A promise face for the callback API of the `rocksdb` package (leveldown
// style), limited to what the queue store needs: binary keys and values,
// atomic batches with an explicit sync flag, and bounded range scans.
//
// Recovery is as strict as the package lets it be, which is not very: its
// binding.cc sets paranoid_checks=false and exposes no wal_recovery_mode, so
// RocksDB (6.17) replays a damaged write-ahead log in point-in-time mode up to
// the first bad record and reports the loss to nobody. What the store needs
// to know about lost synced writes it learns from its own mark instead
// (served-mark.ts; docs/security.md, "Storage faults").
import { createRequire } from "node:module";
import type * as RocksTypes from "rocksdb";

// The package is CommonJS while its typings declare an ES default export;
// requiring it directly gives the constructor the typings describe.
type RocksDB = ReturnType<typeof RocksTypes.default.default>;
const RocksDB = createRequire(import.meta.url)("rocksdb") as typeof RocksTypes.default.default;

/**
 * Queued random bytes are written once, read once and deleted soon after:
 * compressing them is wasted work (random data does not compress); a
 * memtable above the default queues' ~5 MB lets most items die before they
 * are flushed to a file, and no block cache, since nothing is read twice.
 * 8 MiB instead of 32 and no cache took 5-30 MB off the gateway after load
 * with the same bytes written per byte served (docs/performance.md, Footprint).
 */
const TUNING = { compression: false, writeBufferSize: 8 * 1024 * 1024, cacheSize: 0 };

export type BatchOp = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

/**
 * Sees every batch before RocksDB does (store-open.ts installs one: the served
 * mark and the storage-fault gate); `write` does the write, with the ops given.
 */
export type BatchHook = (ops: BatchOp[], sync: boolean, write: (ops: BatchOp[]) => Promise<void>) => Promise<void>;

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

function openHandle(path: string): Promise<RocksDB> {
  const db = RocksDB(path);
  return new Promise((resolve, reject) => db.open({ createIfMissing: true, errorIfExists: false, ...TUNING }, (err) => (err ? reject(err) : resolve(db))));
}

export class Rocks {
  hook: BatchHook | undefined;
  /** Set by close(): reopen() does nothing after it. */
  private closing = false;
  /** The handle is closed (a reopen that failed); open again by the next reopen(). */
  private shut = false;
  /** Serializes reopen() and close(). */
  private lifecycle: Promise<void> = Promise.resolve();
  /** Fails the scans running on the current handle (closeHandle). */
  private readonly readers = new Set<(err: Error) => void>();
  private readonly closers: (() => Promise<void> | void)[] = [];

  private constructor(
    private db: RocksDB,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<Rocks> {
    return new Rocks(await openHandle(path), path);
  }

  /** One atomic write; `sync` waits for the WAL to reach the disk (fsync) before resolving. */
  batch(ops: BatchOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return this.hook ? this.hook(ops, sync, (o) => this.write(o, sync)) : this.write(ops, sync);
  }

  private write(ops: BatchOp[], sync: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.requireOpen();
      this.db.batch(ops as never, { sync }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** The binding crashes the process when a closed handle is used: refuse instead. */
  private requireOpen(): void {
    if (this.shut) throw new Error(`the database at ${this.path} is closed`);
  }

  /**
   * Closes and opens the database again: RocksDB replays its log into fresh
   * files and starts a new log, leaving behind a log a failed write left a
   * torn record in (storage-fault.ts). Callers make sure nothing else uses
   * the database meanwhile. A failure leaves it closed until the next reopen.
   */
  reopen(): Promise<void> {
    return (this.lifecycle = this.lifecycle.catch(() => undefined).then(async () => {
      if (this.closing) return;
      if (!this.shut) {
        this.shut = true;
        await this.closeHandle();
      }
      this.db = await openHandle(this.path);
      this.shut = false;
    }));
  }

  /** Visits [key, value] pairs of a range in key order until `visit` returns false. */
  async scan(opts: RangeOptions, visit: (key: Buffer, value: Buffer) => boolean | void): Promise<void> {
    const { readAheadBytes, values = true, ...range } = opts;
    this.requireOpen();
    // Closing a handle ends its iterators without answering their pending
    // next(): a reopen in the middle of a scan must fail the scan instead.
    let interrupted: Error | undefined;
    let interrupt!: (err: Error) => void;
    const closed = new Promise<never>((_, reject) => (interrupt = (err) => reject((interrupted = err))));
    closed.catch(() => undefined);
    this.readers.add(interrupt);
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
        const entry = await Promise.race([
          new Promise<[Buffer, Buffer] | undefined>((resolve, reject) =>
            it.next((err, key, value) => (err ? reject(err) : resolve(key === undefined ? undefined : [key as Buffer, (value as Buffer | undefined) ?? EMPTY]))),
          ),
          closed,
        ]);
        if (entry === undefined || visit(entry[0], entry[1]) === false) return;
      }
    } finally {
      this.readers.delete(interrupt);
      if (!interrupted) await new Promise<void>((resolve) => it.end(() => resolve()));
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
    return new Promise((resolve, reject) => {
      this.requireOpen();
      this.db.compactRange(start, end, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Runs `fn` when close() is called, and waits for it before close() resolves (what was opened with the database: store-open.ts). */
  onClose(fn: () => Promise<void> | void): void {
    this.closers.push(fn);
  }

  close(): Promise<void> {
    this.closing = true;
    const closed = Promise.allSettled(this.closers.splice(0).map(async (fn) => fn()));
    return (this.lifecycle = this.lifecycle.catch(() => undefined).then(async () => {
      if (!this.shut) {
        this.shut = true;
        await this.closeHandle();
      }
      await closed;
    }));
  }

  private closeHandle(): Promise<void> {
    for (const interrupt of this.readers) interrupt(new Error(`the database at ${this.path} was closed during a read`));
    this.readers.clear();
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
