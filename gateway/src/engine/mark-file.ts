// The served mark's file (served-mark.ts): one small file in DB_PATH, beside
// RocksDB's own, that a damaged write-ahead log cannot take back.
//
// It holds two slots of MARK_SLOT_BYTES, each a whole record under a SHA-256
// checksum, written in turn in place: the slot written is
// never the one holding the newest valid record, so a write torn by a power
// loss leaves the record before it readable. The file is open with O_DSYNC,
// so an update is one write that returns once its data is on the disk: one
// flush, where write-temp-then-rename costs two and a directory sync; the
// rename is used once, to create the file whole.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { promisify } from "node:util";
import { dirname, join } from "node:path";
import { SOURCES } from "./persisted-state.js";
import type { SourceName } from "./types.js";

export const MARK_FILE = "lokey-served-mark";
const MARK_SLOT_BYTES = 4096;
const MAGIC = Buffer.from("LOKEYMK1");
const HEADER_BYTES = MAGIC.length + 4 + 32;

// Plain descriptors, not FileHandles: a store a test (or a crash) never closes
// must not warn about, or in later Node versions fail on, a handle collected open.
const open = promisify(fs.open);
const close = promisify(fs.close);
const read = promisify(fs.read);
const write = promisify(fs.write);
const fsync = promisify(fs.fsync);
/** Each write returns once its data is on the disk (POSIX synchronized I/O data integrity). */
const SYNCED = fs.constants.O_RDWR | fs.constants.O_DSYNC;

/** Per source: the highest reservation ever synced, and the counters as of the recorded write. */
export interface MarkedSource {
  /** Every item with a lower id may have been served (reservation.ts), in this or any earlier run. */
  bound: bigint;
  next_id: bigint;
  consumed: bigint;
  dropped: bigint;
  total_generated: bigint;
  polling: bigint;
}

export const MARKED_COUNTERS = ["next_id", "consumed", "dropped", "total_generated", "polling"] as const;

export interface MarkRecord {
  /** Which synced write this describes; the database stores the same number in that write (served-mark.ts). */
  generation: bigint;
  consume: boolean;
  sources: Record<SourceName, MarkedSource>;
}

function encode(r: MarkRecord): Buffer {
  const sources: Record<string, Record<string, string>> = {};
  for (const s of SOURCES) sources[s] = Object.fromEntries(Object.entries(r.sources[s]).map(([k, v]) => [k, v.toString()]));
  const body = Buffer.from(JSON.stringify({ generation: r.generation.toString(), consume: r.consume, sources }));
  if (HEADER_BYTES + body.length > MARK_SLOT_BYTES) throw new RangeError(`served mark record of ${body.length} bytes does not fit its slot`);
  const slot = Buffer.alloc(MARK_SLOT_BYTES);
  MAGIC.copy(slot);
  slot.writeUInt32BE(body.length, MAGIC.length);
  createHash("sha256").update(body).digest().copy(slot, MAGIC.length + 4);
  body.copy(slot, HEADER_BYTES);
  return slot;
}

/** The record in a slot, or undefined when the slot holds none (never written, torn, or damaged). */
function decode(slot: Buffer): MarkRecord | undefined {
  if (slot.length < HEADER_BYTES || !slot.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const len = slot.readUInt32BE(MAGIC.length);
  if (HEADER_BYTES + len > slot.length) return undefined;
  const body = slot.subarray(HEADER_BYTES, HEADER_BYTES + len);
  if (!createHash("sha256").update(body).digest().equals(slot.subarray(MAGIC.length + 4, HEADER_BYTES))) return undefined;
  try {
    const j = JSON.parse(body.toString()) as { generation: string; consume: boolean; sources: Record<string, Record<string, string>> };
    const sources = {} as Record<SourceName, MarkedSource>;
    for (const s of SOURCES) {
      const m = j.sources[s];
      sources[s] = { bound: BigInt(m.bound), ...Object.fromEntries(MARKED_COUNTERS.map((k) => [k, BigInt(m[k])])) } as MarkedSource;
    }
    return { generation: BigInt(j.generation), consume: j.consume === true, sources };
  } catch {
    return undefined;
  }
}

/** A checksummed mark file that holds no valid record: the storage under DB_PATH is not to be trusted. */
export class MarkFileDamaged extends Error {}

export class MarkFile {
  private constructor(
    private readonly fd: number,
    /** The slot holding the newest valid record: the next write goes to the other one. */
    private newest: number,
  ) {}

  /**
   * Opens the mark in `dir` and reads its newest valid record; creates the
   * file holding `initial()` when there is none. Throws MarkFileDamaged when
   * the file is there but neither slot holds a valid record.
   */
  static async open(dir: string, initial: () => Promise<MarkRecord>): Promise<{ file: MarkFile; last: MarkRecord }> {
    const path = join(dir, MARK_FILE);
    let fd: number;
    try {
      fd = await open(path, SYNCED);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      const last = await initial();
      await create(path, last);
      return { file: new MarkFile(await open(path, SYNCED), 0), last };
    }
    const buf = Buffer.alloc(2 * MARK_SLOT_BYTES);
    await read(fd, buf, 0, buf.length, 0);
    const slots = [decode(buf.subarray(0, MARK_SLOT_BYTES)), decode(buf.subarray(MARK_SLOT_BYTES))];
    const newest = slots[1] && (!slots[0] || slots[1].generation > slots[0].generation) ? 1 : 0;
    const last = slots[newest];
    if (!last) {
      await close(fd);
      throw new MarkFileDamaged(
        `${path} holds no valid record (both copies fail their checksum): the disk under DB_PATH returned damaged data, so what the database says was served cannot be checked. ` +
          "Check the disk; to start anyway, accepting that bytes served before may be served again, delete that file.",
      );
    }
    return { file: new MarkFile(fd, newest), last };
  }

  /** Writes `r` into the slot not holding the newest record; resolves once it is on the disk. */
  async save(r: MarkRecord): Promise<void> {
    const slot = 1 - this.newest;
    await write(this.fd, encode(r), 0, MARK_SLOT_BYTES, slot * MARK_SLOT_BYTES);
    this.newest = slot;
  }

  close(): Promise<void> {
    return close(this.fd);
  }
}

/** Creates the file whole: written and flushed under a temporary name, renamed, and the directory flushed. */
async function create(path: string, r: MarkRecord): Promise<void> {
  const tmp = `${path}.tmp`;
  const fd = await open(tmp, "w");
  try {
    const both = Buffer.concat([encode(r), Buffer.alloc(MARK_SLOT_BYTES)]);
    await write(fd, both, 0, both.length, 0);
    await fsync(fd);
  } finally {
    await close(fd);
  }
  await promisify(fs.rename)(tmp, path);
  const dir = await open(dirname(path), "r");
  try {
    await fsync(dir);
  } finally {
    await close(dir);
  }
}
