// Waiting in end-to-end suites: a bounded poll of a condition, never a sleep
// as synchronisation. The bound is a liveness limit for a loaded machine, not
// a performance target.
export async function until<T>(what: string, probe: () => Promise<T | undefined>, boundMs: number, context: () => string = () => ""): Promise<T> {
  const end = Date.now() + boundMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not happen within ${boundMs} ms (last error: ${String(last)})\n${context().slice(-4000)}`);
}
