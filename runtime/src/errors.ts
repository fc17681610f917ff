// The one mapping from Connect codes to HTTP statuses for REST answers. It is
// the Connect protocol's own table ("Error Codes" in the Connect protocol
// spec; connect-es's codeToHttpStatus), so a REST caller and a Connect caller
// see the same status for the same failure, except where this project chose
// otherwise. Every such choice is in DELIBERATE below, with its reason, and
// runtime/test/error-status.test.ts holds both halves to it.
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";

/** Where REST answers differ from Connect's table, and why. */
export const DELIBERATE: Partial<Record<Code, { status: number; why: string }>> = {
  [Code.FailedPrecondition]: {
    status: 503,
    // Connect says 400. Here the precondition is the service's state, not the
    // request (Fortuna refusing output until it is seeded): a temporary
    // unavailability, which probes and retrying clients read from a 503.
    why: "the service's state, not the request, is wrong (e.g. Fortuna not seeded yet): retry later",
  },
};

export function httpStatusOf(code: Code): number {
  return DELIBERATE[code]?.status ?? codeToHttpStatus(code);
}

/** Any thrown value as a ConnectError; unexpected errors become Internal without leaking details. */
export function asConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

export const invalidArgument = (msg: string) => new ConnectError(msg, Code.InvalidArgument);
