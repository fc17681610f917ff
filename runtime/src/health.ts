// grpc.health.v1 (Check, Watch, List) over a registry the service keeps
// current. The empty name "" is the server's overall status, which is what
// `grpcurl ... grpc.health.v1.Health/Check` and orchestrators ask for.
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";

export type ServingState = "SERVING" | "NOT_SERVING";

type Listener = (service: string, status: Status) => void;

export class HealthRegistry {
  private readonly statuses = new Map<string, Status>([["", Status.SERVING]]);
  private readonly listeners = new Set<Listener>();
  private frozen = false;

  set(service: string, state: ServingState): void {
    if (this.frozen) return;
    this.put(service, state === "SERVING" ? Status.SERVING : Status.NOT_SERVING);
  }

  /** Sets the overall status and each named service at once. */
  setAll(state: ServingState, services: string[]): void {
    for (const s of ["", ...services]) this.set(s, state);
  }

  get(service: string): Status | undefined {
    return this.statuses.get(service);
  }

  isServing(service = ""): boolean {
    return this.statuses.get(service) === Status.SERVING;
  }

  /** Shutdown: everything NOT_SERVING and no further changes, so balancers drain us. */
  shutdown(): void {
    for (const name of this.statuses.keys()) this.put(name, Status.NOT_SERVING);
    this.frozen = true;
  }

  entries(): [string, Status][] {
    return [...this.statuses.entries()];
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private put(service: string, status: Status): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const fn of this.listeners) fn(service, status);
  }
}

export function healthImpl(registry: HealthRegistry): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = registry.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      return { status };
    },
    // Per the health protocol, Watch answers SERVICE_UNKNOWN for unknown names
    // (instead of failing) and then sends every change until the client leaves.
    async *watch(req, ctx) {
      const pending: Status[] = [registry.get(req.service) ?? Status.SERVICE_UNKNOWN];
      let wake: (() => void) | undefined;
      const unsubscribe = registry.subscribe((name, status) => {
        if (name !== req.service) return;
        pending.push(status);
        wake?.();
      });
      const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      try {
        while (!ctx.signal.aborted) {
          const next = pending.shift();
          if (next !== undefined) {
            yield { status: next };
            continue;
          }
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
        }
      } finally {
        unsubscribe();
      }
    },
    list() {
      return { statuses: Object.fromEntries(registry.entries().map(([name, status]) => [name, { status }])) };
    },
  };
}
