// The storage-fault state: the database's disk is full (or failing writes)
// and the store waits it out instead of failing every write as it comes.
//
// A write failing with ENOSPC (RocksDB: "IO error: No space left on device"),
// EDQUOT or another I/O error puts the store in this state. While it lasts no
// write reaches RocksDB (the hook in store-open.ts refuses them), takes and
// config writes answer UNAVAILABLE (503 over REST) with the reason, the feeds
// stop reading their upstreams (feeder.ts), and health says NOT_SERVING with
// the reason (health.ts). Every state change is reported once (onChange).
//
// A failed append can leave a torn record at the end of RocksDB's log, and
// RocksDB's replay stops at the first bad record (rocks.ts): writes that
// succeed after it would be lost at the next open. So the way out is not the
// next write but reopening the database, which replays the log up to that
// record into fresh files and starts a new log. That needs room for the
// files, so it is retried with back-off until it succeeds; then the store
// reloads its state from the database, checked against the served mark
// (served-mark.ts), and the fault is over.
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { Backoff, type BackoffPolicy } from "../../../runtime/src/index.js";
import { Pulse } from "./lock.js";

/** Back-off between attempts to reopen the database; a fault soon after recovery goes on with it. */
export const STORAGE_RETRY: BackoffPolicy = { minMs: 500, maxMs: 30_000 };

/** Why a failure is the storage's, in words for operators and clients; undefined when it is not. */
export function storageFailure(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  if (code === "ENOSPC" || /No space left on device/i.test(msg)) return "no space left on the database's disk";
  if (code === "EDQUOT" || /quota exceeded/i.test(msg)) return "the database's disk quota is used up";
  if (code === "EIO" || code === "EROFS" || /^IO error: /.test(msg)) return `the database's disk failed a write (${msg})`;
  return undefined;
}

/** What callers get while the fault lasts: UNAVAILABLE (HTTP 503), saying why. */
export class StorageUnavailable extends ConnectError {
  constructor(reason: string, since: Date) {
    super(`storage fault since ${since.toISOString()}: ${reason}; nothing is served or stored until it clears (retrying)`, Code.Unavailable);
  }
}

export class StorageFault {
  private current: { reason: string; since: Date; error: StorageUnavailable } | undefined;
  private readonly listeners = new Set<(reason: string | undefined) => void>();
  private readonly recovered = new Pulse();
  private readonly backoff: Backoff;
  private lastRecovery = -Infinity;
  private readonly stop = new AbortController();

  /**
   * @param recover what ends a fault (reopening the database); retried with
   *   back-off (`policy`) until it resolves.
   */
  constructor(
    private readonly recover: () => Promise<void>,
    private readonly policy: BackoffPolicy = STORAGE_RETRY,
  ) {
    this.backoff = new Backoff(policy);
  }

  /** Why the store is in the fault state, or undefined when it is not. */
  get reason(): string | undefined {
    return this.current?.reason;
  }

  /** Throws the fault's error while there is one. */
  check(): void {
    if (this.current) throw this.current.error;
  }

  /**
   * A failed write or reopen: enters the fault state when the storage is to
   * blame. Returns what to throw instead (the fault's error, or `err`).
   */
  failed(err: unknown): unknown {
    if (err instanceof StorageUnavailable) return err;
    const reason = storageFailure(err);
    if (!reason) return err;
    if (!this.current) {
      const since = new Date();
      this.current = { reason, since, error: new StorageUnavailable(reason, since) };
      // A fault soon after the last one goes on with the back-off where it was.
      if (performance.now() - this.lastRecovery > this.policy.maxMs) this.backoff.reset();
      this.notify();
      void this.recoverLoop();
    }
    return this.current.error;
  }

  /**
   * For a feed whose write failed: when the failure was the fault's (or came
   * during one), waits until it is over (or `signal` aborts, which rejects)
   * and returns true; otherwise returns false at once.
   */
  async waitOut(err: unknown, signal: AbortSignal): Promise<boolean> {
    if (!this.current && !(err instanceof StorageUnavailable)) return false;
    while (this.current) await this.recovered.wait(signal);
    return true;
  }

  /** Calls `fn` with the reason at each change (undefined: over). Returns the unsubscribe. */
  onChange(fn: (reason: string | undefined) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Stops retrying (the store is closing). */
  close(): void {
    this.stop.abort();
  }

  private notify(): void {
    for (const fn of this.listeners) fn(this.current?.reason);
  }

  private async recoverLoop(): Promise<void> {
    while (this.current) {
      try {
        await sleep(this.backoff.next(), undefined, { signal: this.stop.signal, ref: false });
        await this.recover();
        if (this.stop.signal.aborted) return;
      } catch (err) {
        if (this.stop.signal.aborted) return;
        const reason = storageFailure(err) ?? `reopening the database failed (${err instanceof Error ? err.message : String(err)})`;
        if (reason !== this.current.reason) {
          this.current = { reason, since: this.current.since, error: new StorageUnavailable(reason, this.current.since) };
          this.notify();
        }
        continue;
      }
      this.current = undefined;
      this.lastRecovery = performance.now();
      this.notify();
      this.recovered.fire();
    }
  }
}
