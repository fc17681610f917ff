// The served mark: what the database must still hold for nothing served to
// come back, kept where a damaged write-ahead log cannot take it back.
//
// Served bytes stay unservable because they lie below a synced reservation
// (reservation.ts). That holds only while RocksDB keeps what it synced, and
// it may not: an SD card that lies about flushes, a log cut short or garbled,
// or a record torn by a full disk (RocksDB then stops replaying there, and
// every write after it is lost at the next open, synced or not) all bring
// back an older database, where served items are queued again under a lower
// reservation. The binding gives no way to make RocksDB refuse such a log
// (rocks.ts).
//
// So every synced write that moves a reservation (raised before takes rely
// on it, given back at a clean close) or changes the consume setting is
// numbered: the database stores the number in that write
// (`cfg/mark_generation`), and the mark file (mark-file.ts) gets a record of
// it, written beside the database write, before any take relying on it
// answers: per source the highest reservation ever synced (`bound`) and the
// counters. That is one extra flush per reservation, not per take, and the
// two flushes run side by side. At open, and when the store reloads after a
// failed write, a database whose number is behind the record's lost synced
// writes: everything below the bound is dropped (counted), the counters move
// forward to the record's, and the consume setting is the record's. Skipping
// is safe because the record can only overstate what was served (docs/security.md,
// "Storage faults").
import { consumeKey, counterKey, readU64, u64, COUNTERS, type CounterName } from "./keys.js";
import { MarkFile, MARKED_COUNTERS, type MarkRecord } from "./mark-file.js";
import { Mutex } from "./lock.js";
import { consumeOp, counterOps, readPersisted, SOURCES, type SourceCounters } from "./persisted-state.js";
import type { BatchOp, Rocks } from "./rocks.js";
import type { SourceName } from "./types.js";

/** The number of the last recorded synced write, in the database (u64 be). */
export const markGenerationKey = Buffer.from("cfg/mark_generation");

/** What a check found: the database lacked recorded writes, and what was moved forward. */
export interface MarkReport {
  /** Recorded writes the database lacked (1 may also be a crash during the last one). */
  behind: bigint;
  /** Per source, the counters (and reservation) moved forward: [from, to]. */
  moved: Record<SourceName, Partial<Record<CounterName, [bigint, bigint]>>>;
  /** The consume setting, when the database had lost its last change. */
  consume?: [boolean | undefined, boolean];
}

/** The database's state as last written: counters per source and the consume setting. */
interface View {
  counters: Record<SourceName, SourceCounters>;
  consume: boolean | undefined;
}

const COUNTER_KEYS = new Map<string, [SourceName, CounterName]>(
  SOURCES.flatMap((s) => COUNTERS.map((n) => [counterKey(s, n).toString("latin1"), [s, n]] as [string, [SourceName, CounterName]])),
);

async function readKey(db: Rocks, key: Buffer): Promise<Buffer | undefined> {
  const [[, v] = []] = await db.range({ gte: key, lt: Buffer.concat([key, Buffer.from([0])]), limit: 1 });
  return v;
}

async function readView(db: Rocks): Promise<{ view: View; generation: bigint }> {
  const { counters } = await readPersisted(db);
  const c = await readKey(db, consumeKey);
  const g = await readKey(db, markGenerationKey);
  return { view: { counters, consume: c?.length === 1 ? c[0] === 1 : undefined }, generation: g?.length === 8 ? readU64(g) : 0n };
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);

export class ServedMark {
  /** Records are written one at a time, in generation order. */
  private readonly writing = new Mutex();
  /** The last generation handed out. */
  private generation: bigint;
  /** The last record whose database write succeeded. */
  private landed: MarkRecord;
  /** Per source: the highest reservation ever written. */
  private readonly bound: Record<SourceName, bigint>;

  private constructor(
    private readonly file: MarkFile,
    private view: View,
    last: MarkRecord,
    dbGeneration: bigint,
  ) {
    this.landed = last;
    this.generation = max(dbGeneration, last.generation);
    this.bound = { trng: 0n, fortuna: 0n };
    for (const s of SOURCES) this.bound[s] = max(last.sources[s].bound, view.counters[s].reserved);
  }

  /**
   * Opens the mark file in the database's directory, creating it from the
   * database's state. Throws MarkFileDamaged (mark-file.ts) when the file
   * holds no valid record. The caller installs write() as the database's
   * hook, then checks the database against the mark (check()).
   */
  static async open(db: Rocks): Promise<ServedMark> {
    const { view, generation } = await readView(db);
    const { file, last } = await MarkFile.open(db.path, async () => ({ generation, consume: view.consume ?? true, sources: recordSources(view.counters, (s) => view.counters[s].reserved) }));
    return new ServedMark(file, view, last, generation);
  }

  /**
   * Compares the database with the last record that landed: when the database
   * lacks recorded writes, moves it forward to the record (one synced write,
   * itself recorded). Reading the state again is the caller's.
   */
  async check(db: Rocks): Promise<MarkReport | undefined> {
    const { view, generation } = await readView(db);
    this.view = view;
    const last = this.landed;
    if (generation >= last.generation) return undefined;
    // The record's number goes in with the repair, so the next check finds the database level with it.
    const ops: BatchOp[] = [{ type: "put", key: markGenerationKey, value: u64(last.generation) }];
    const report: MarkReport = { behind: last.generation - generation, moved: { trng: {}, fortuna: {} } };
    for (const s of SOURCES) {
      const c = view.counters[s];
      const m = last.sources[s];
      const now = { ...c, reserved: max(c.reserved, m.bound) };
      for (const k of MARKED_COUNTERS) now[k] = max(c[k], m[k]);
      // Keep total = queued + consumed + dropped: what the record counted and the database lost was dropped.
      const sum = now.items + now.consumed + now.dropped;
      if (sum < now.total_generated) now.dropped += now.total_generated - sum;
      else now.total_generated = sum;
      for (const k of COUNTERS) if (now[k] !== c[k]) report.moved[s][k] = [c[k], now[k]];
      counterOps(s, now, c, ops);
    }
    if (view.consume !== last.consume) {
      report.consume = [view.consume, last.consume];
      ops.push(consumeOp(last.consume));
    }
    await db.batch(ops, true);
    return report;
  }

  /**
   * Rocks.hook: tracks what each write puts, and numbers and records the
   * synced writes that move a reservation or change the consume setting.
   * Such a write resolves once both the database and the mark file have it.
   */
  write(ops: BatchOp[], sync: boolean, write: (ops: BatchOp[]) => Promise<void>): Promise<void> {
    const next = this.apply(ops);
    // Raised (what takes rely on) or given back at a clean close (the record then has the final counters).
    const moved = SOURCES.some((s) => next.counters[s].reserved !== this.view.counters[s].reserved);
    if (!sync || !(moved || next.consume !== this.view.consume)) {
      return write(ops).then(() => void (this.view = next));
    }
    return this.writing.run(async () => {
      const generation = ++this.generation;
      for (const s of SOURCES) this.bound[s] = max(this.bound[s], next.counters[s].reserved);
      const record: MarkRecord = { generation, consume: next.consume ?? true, sources: recordSources(next.counters, (s) => this.bound[s]) };
      const [db, file] = await Promise.allSettled([write([...ops, { type: "put", key: markGenerationKey, value: u64(generation) }]), this.file.save(record)]);
      if (db.status === "rejected") throw db.reason;
      this.view = next;
      if (file.status === "rejected") throw file.reason;
      this.landed = record;
    });
  }

  close(): Promise<void> {
    return this.file.close();
  }

  /** The view after `ops` (counter and consume puts), without changing the current one. */
  private apply(ops: BatchOp[]): View {
    let next: View | undefined;
    for (const op of ops) {
      if (op.type !== "put" || op.key[0] !== 0x63) continue; // 'c': counters ("c/") and settings ("cfg/")
      const counter = COUNTER_KEYS.get(op.key.toString("latin1"));
      if (!counter && !op.key.equals(consumeKey)) continue;
      next ??= { counters: { trng: { ...this.view.counters.trng }, fortuna: { ...this.view.counters.fortuna } }, consume: this.view.consume };
      if (counter) next.counters[counter[0]][counter[1]] = readU64(op.value);
      else next.consume = op.value[0] === 1;
    }
    return next ?? this.view;
  }
}

function recordSources(counters: View["counters"], bound: (s: SourceName) => bigint): MarkRecord["sources"] {
  const out = {} as MarkRecord["sources"];
  for (const s of SOURCES) {
    const c = counters[s];
    out[s] = { bound: bound(s), next_id: c.next_id, consumed: c.consumed, dropped: c.dropped, total_generated: c.total_generated, polling: c.polling };
  }
  return out;
}
