// Freed malloc memory back to the system after V8 collections, so a service's
// resident set falls back once a burst of streaming is over instead of keeping
// its peak (issue 14's footprint; docs/performance.md, "Footprint").
//
// A Buffer's bytes live in the C heap and are freed when V8 collects the
// Buffer; glibc keeps freed pages resident unless they are at the heap's top.
// runtime/native/heap_trim.c calls malloc_trim(3), which releases them. Freed
// memory appears only after a collection, so a trim follows collections, once
// they pause; an idle process that does not collect never trims.
import { PerformanceObserver } from "node:perf_hooks";
import { loadAddon } from "./native-addon.js";

interface HeapTrimAddon {
  /** malloc_trim(0); true if pages went back to the system. */
  trim(): boolean;
  /** false without glibc (trim() then does nothing). */
  supported: boolean;
}

/**
 * A trim waits until collections have paused this long: the end of a burst,
 * when what it frees stays free. Pages trimmed while the process is still busy
 * are faulted straight back in: a trim every second under load lowered the
 * stack's RSS by only ~7 MB, for up to ~10% more CPU per byte streamed
 * (docs/performance.md, "Footprint").
 */
export const TRIM_QUIET_MS = 1000;
/** Under a load that never pauses, a trim at least this often all the same. */
export const TRIM_MAX_WAIT_MS = 30_000;

function load(): { addon?: HeapTrimAddon; error?: string } {
  // From runtime/src and from a service's bundle (<service>/src) alike.
  const { addon, error } = loadAddon<HeapTrimAddon>(import.meta.url, "../../runtime/native/build/Release/heap_trim.node");
  if (!addon) return { error };
  return addon.supported ? { addon } : { error: "this C library has no malloc_trim" };
}

let loaded: ReturnType<typeof load> | undefined;

/** The addon once loaded, or why not (an install with --ignore-scripts, musl). */
function addon(): ReturnType<typeof load> {
  return (loaded ??= load());
}

/** Releases freed heap pages now; false when nothing went back or the addon is missing. */
export function trimHeap(): boolean {
  return addon().addon?.trim() ?? false;
}

/** What trimming has done in this process (the lokey_heap_trim* metrics). */
export interface HeapTrimStats {
  /** Trims done. */
  trims: number;
  /** How far the resident set fell across them, in bytes. */
  releasedBytes: number;
}

const stats: HeapTrimStats = { trims: 0, releasedBytes: 0 };
let started: { unavailable?: string } | undefined;

export function heapTrimStats(): Readonly<HeapTrimStats> {
  return stats;
}

/**
 * Trims once collections pause (TRIM_QUIET_MS after the last), or
 * TRIM_MAX_WAIT_MS after the first collection since the last trim, for as long
 * as the process runs; neither the timer nor the observer keeps it alive. Once
 * per process, however many services it runs; says why when it cannot.
 */
export function startHeapTrimming(quietMs = TRIM_QUIET_MS, maxWaitMs = TRIM_MAX_WAIT_MS): { unavailable?: string } {
  if (started) return started;
  const { addon: native, error } = addon();
  if (!native) return (started = { unavailable: error ?? "unknown" });
  let timer: NodeJS.Timeout | undefined;
  /** When the first collection since the last trim was seen; undefined: none yet. */
  let pendingSince: number | undefined;
  const trim = () => {
    timer = undefined;
    pendingSince = undefined;
    const before = process.memoryUsage.rss();
    stats.trims++;
    if (native.trim()) stats.releasedBytes += Math.max(0, before - process.memoryUsage.rss());
  };
  new PerformanceObserver(() => {
    const now = performance.now();
    pendingSince ??= now;
    clearTimeout(timer);
    timer = setTimeout(trim, Math.min(quietMs, pendingSince + maxWaitMs - now));
    timer.unref();
  }).observe({ entryTypes: ["gc"] });
  return (started = {});
}
