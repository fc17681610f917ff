// What the operator is told about the database's disk: one line when a
// storage fault starts, changes or ends (storage-fault.ts), and one whenever
// the database turns out to lack synced writes the served mark recorded
// (served-mark.ts), with what was skipped to keep the served-once promise.
import type { Logger } from "../../../runtime/src/index.js";
import type { MarkReport } from "./served-mark.js";
import type { Storage } from "./store-open.js";

function markReported(log: Logger, r: MarkReport, when: string): void {
  const moved = Object.fromEntries(
    Object.entries(r.moved)
      .filter(([, m]) => Object.keys(m).length > 0)
      .map(([s, m]) => [s, Object.fromEntries(Object.entries(m).map(([k, [from, to]]) => [k, { from, to }]))]),
  );
  // One missing write may also be a crash during the last one; more means the disk lost what it had flushed.
  const message =
    r.behind > 1n
      ? `${when}: the database lacks ${r.behind} synced writes the served mark recorded (its log was cut or damaged, or the disk did not keep what it flushed); everything that may have been served is skipped and the counters moved forward`
      : `${when}: the database lacks the last write the served mark recorded (a crash during it, or a damaged log); everything that may have been served is skipped`;
  const fields = { behindWrites: r.behind, moved, ...(r.consume ? { consume: { from: r.consume[0] ?? null, to: r.consume[1] } } : {}) };
  if (r.behind > 1n) log.warn(message, fields);
  else log.info(message, fields);
}

/** Logs what opening found, and from now on every storage-fault change and later mark finding. */
export function reportStorage(storage: Storage, log: Logger): void {
  if (storage.opened) markReported(log, storage.opened, "at open");
  storage.onMarkReport((r) => markReported(log, r, "after reopening"));
  let since = 0;
  storage.fault.onChange((reason) => {
    if (reason !== undefined) {
      if (since === 0) since = performance.now();
      log.error("storage fault: the queues are neither fed nor served until it clears; retrying with back-off", { reason });
    } else {
      log.info("storage fault over: the database is written again", { lastedMs: Math.round(performance.now() - since) });
      since = 0;
    }
  });
}
