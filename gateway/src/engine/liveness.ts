// Notices an upstream going away, and coming back, within seconds even while
// its data stream is idle (a full queue leaves the feeder's stream paused by
// flow control, so a dead peer went unnoticed for minutes). Per upstream a
// grpc.health.v1 Watch stays open on the data client's own channel: a killed
// process or closed port ends it at once; a silent death (cable pulled, peer
// frozen) fails the channel's keepalive pings, which end it too.
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import type { Logger } from "../../../runtime/src/index.js";
import { pause } from "./lock.js";
import type { Link } from "./upstreams.js";

/**
 * Between Watch attempts while the upstream is away. Low, so a return is seen
 * within about a second (the channel's own reconnect backoff is capped to match).
 */
export const LIVENESS_RETRY_MS = 250;

export interface HealthWatcher {
  watch: (req: { service: string }, opts: { signal: AbortSignal }) => AsyncIterable<{ status: ServingStatus }>;
}

/**
 * Keeps `link.live` and `link.serving` current until `signal` aborts. Any
 * Watch answer, SERVING or not, means the peer is there (an unseeded Fortuna
 * says NOT_SERVING, so does a controller whose health tests fail); the stream
 * failing or ending means it is gone. On a return the feeder and seeder are
 * woken so data flows at once instead of after their back-off.
 */
export async function watchLiveness(link: Link, health: HealthWatcher, signal: AbortSignal, log: Logger): Promise<void> {
  // The first answer is start-up, not a return: the seeder seeds then anyway.
  let seenBefore = false;
  while (!signal.aborted) {
    try {
      for await (const answer of health.watch({ service: "" }, { signal })) {
        link.serving = answer.status === ServingStatus.SERVING;
        if (!link.live) {
          link.live = true;
          link.up();
          log.info("upstream is up", { address: link.address });
          link.wake.fire();
          if (seenBefore) link.returned.fire();
          seenBefore = true;
        }
      }
      if (signal.aborted) break;
      link.down(new Error("health watch ended by the upstream"));
    } catch (err) {
      if (signal.aborted) break;
      if (link.live) log.warn("upstream lost", { address: link.address, error: err });
      link.down(err);
    }
    await pause(LIVENESS_RETRY_MS, signal);
  }
}
