// The one mapping from Connect codes to HTTP statuses for REST answers,
// following the Connect protocol's table so REST and Connect agree.
import { Code, ConnectError } from "@connectrpc/connect";

const httpStatus: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  // A refusal to serve (e.g. Fortuna unseeded) is a temporary unavailability.
  [Code.FailedPrecondition]: 503,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

export function httpStatusOf(code: Code): number {
  return httpStatus[code] ?? 500;
}

/** Any thrown value as a ConnectError; unexpected errors become Internal without leaking details. */
export function asConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

export const invalidArgument = (msg: string) => new ConnectError(msg, Code.InvalidArgument);
