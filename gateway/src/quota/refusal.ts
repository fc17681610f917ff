// How a quota answers: the RateLimit fields of draft-ietf-httpapi-ratelimit-headers-09
// (https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/09/),
// Retry-After (RFC 9110 §10.2.3), and for RPC callers a google.rpc.RetryInfo
// detail on RESOURCE_EXHAUSTED. The fields travel as the error's metadata:
// Connect and gRPC send it as headers or trailers, REST as response headers.
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import type { Kind } from "./limits.js";
import type { Rate } from "./token-bucket.js";

/** One bucket as the fields describe it: policy "trng-bytes" and its state now. */
export interface PolicyState {
  name: string;
  kind: Kind;
  rate: Rate;
  /** Tokens now (negative while paying off a request above the burst). */
  level: number;
  fullInMs: number;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/**
 * RateLimit-Policy: a bucket of `burst` refilled at `perMinute` is the quota
 * q=burst over the window w in which it refills from empty. Bytes are the
 * draft's "content-bytes" unit, counted as random bytes drawn (the body of a
 * binary answer; a JSON rendering of them is longer).
 */
export function policyField(states: PolicyState[]): string {
  return states
    .map((s) => {
      const w = Math.max(1, Math.round((s.rate.burst * 60) / s.rate.perMinute));
      return `"${s.name}";q=${s.rate.burst}${s.kind === "bytes" ? ';qu="content-bytes"' : ""};w=${w}`;
    })
    .join(", ");
}

/** RateLimit: r = units left now, t = seconds until the bucket is full again. */
export function rateLimitField(states: PolicyState[]): string {
  return states.map((s) => `"${s.name}";r=${Math.max(0, Math.floor(s.level))};t=${seconds(s.fullInMs)}`).join(", ");
}

/** RESOURCE_EXHAUSTED with when to retry, as a header and as a RetryInfo detail. */
export function quotaExceeded(message: string, retryMs: number, states: PolicyState[]): ConnectError {
  const ms = Math.ceil(retryMs);
  const metadata = {
    "Retry-After": String(Math.max(1, seconds(ms))),
    "RateLimit-Policy": policyField(states),
    RateLimit: rateLimitField(states),
  };
  const retryDelay = { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
  return new ConnectError(message, Code.ResourceExhausted, metadata, [{ desc: RetryInfoSchema, value: { retryDelay } }]);
}
