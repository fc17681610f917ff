// The upstreams of one kind (controllers, or Fortuna instances) as the
// resolver finds them: each address gets a member of its own (its client,
// its link, its loops), made when the address appears and stopped when it
// goes, so one upstream failing or leaving never touches the others.
import type { Logger } from "../../../runtime/src/index.js";
import { Pulse } from "./lock.js";
import { watchEndpoints, type Endpoint, type Lookup, type UpstreamSpec } from "./resolver.js";

export interface Member {
  readonly endpoint: Endpoint;
  /** Closes its clients, once its loops have ended. */
  close(): void;
}

interface Running<M> {
  member: M;
  stop: AbortController;
  loops: Promise<unknown>;
}

export interface MemberSetOptions<M extends Member> {
  make(endpoint: Endpoint): M;
  /** The member's loops (stream, liveness watch); they end when `signal` aborts. */
  run(member: M, signal: AbortSignal): Promise<unknown>[];
  /** Called once a member whose address went away has stopped. */
  removed?(member: M): void;
  lookup?: Lookup;
  refreshMs?: number;
}

export class MemberSet<M extends Member> {
  private readonly running = new Map<string, Running<M>>();
  /** Fires when a member is added or removed. */
  readonly changed = new Pulse();
  private readonly watching: Promise<void>;
  private readonly stopped = new AbortController();
  /** Resolves once the first lookup has made the first members. */
  readonly ready: Promise<void>;

  constructor(
    readonly specs: UpstreamSpec[],
    private readonly opts: MemberSetOptions<M>,
    signal: AbortSignal,
    private readonly log: Logger,
  ) {
    const stop = AbortSignal.any([signal, this.stopped.signal]);
    const watch = watchEndpoints(specs, stop, log, opts.lookup, opts.refreshMs);
    let made!: () => void;
    this.ready = new Promise<void>((r) => (made = r));
    this.watching = (async () => {
      await watch.ready;
      while (!stop.aborted) {
        // Listening before looking: a change in between still wakes us.
        const next = watch.changed.waiter(stop);
        this.update(watch.current(), stop);
        made();
        await next.fired.catch(() => undefined);
      }
      made();
      await watch.done;
    })();
  }

  /** The members now, in the order they were made. */
  get members(): M[] {
    return [...this.running.values()].map((r) => r.member);
  }

  private update(endpoints: Endpoint[], signal: AbortSignal): void {
    const wanted = new Set(endpoints.map((e) => e.address));
    for (const [address, r] of this.running) {
      if (wanted.has(address)) continue;
      this.running.delete(address);
      this.log.info("upstream removed", { address, upstream: r.member.endpoint.spec });
      r.stop.abort(new Error(`${address} is no longer among ${r.member.endpoint.spec}'s addresses`));
      void r.loops.then(() => {
        r.member.close();
        this.opts.removed?.(r.member);
      });
    }
    for (const e of endpoints) {
      if (this.running.has(e.address) || signal.aborted) continue;
      const member = this.opts.make(e);
      const stop = new AbortController();
      const loops = Promise.allSettled(this.opts.run(member, AbortSignal.any([signal, stop.signal])));
      this.running.set(e.address, { member, stop, loops });
      if (e.serverName) this.log.info("upstream added", { address: e.address, upstream: e.spec });
    }
    this.changed.fire();
  }

  /** Stops every member's loops and closes their clients. */
  async close(): Promise<void> {
    this.stopped.abort(new Error("upstreams closing"));
    await this.watching.catch(() => undefined);
    const all = [...this.running.values()];
    this.running.clear();
    for (const r of all) r.stop.abort(new Error("upstreams closing"));
    await Promise.all(all.map((r) => r.loops));
    for (const r of all) r.member.close();
  }
}
