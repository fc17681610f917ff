// Typed failures of the ATECC608A protocol: one class per status code the chip
// can answer, plus the bus-level ones (no answer, bad CRC, bad count).
import {
  STATUS_AFTER_WAKE, STATUS_COMM_ERROR, STATUS_ECC_FAULT, STATUS_EXECUTION_ERROR, STATUS_HEALTH_TEST_ERROR,
  STATUS_MISCOMPARE, STATUS_PARSE_ERROR, STATUS_SELF_TEST_ERROR, STATUS_WATCHDOG_EXPIRING,
} from "./protocol.js";

export class AteccError extends Error {
  /** Whether re-issuing the command may help (bus glitches, watchdog), as opposed to a refusal. */
  readonly transient: boolean = false;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The chip answered a 4-byte status packet with a non-success status. */
export class AteccStatusError extends AteccError {
  constructor(readonly status: number, readonly opcode: number, what: string) {
    super(`ATECC608A status 0x${status.toString(16).padStart(2, "0")} (${what}) for opcode 0x${opcode.toString(16).padStart(2, "0")}`);
  }
}
export class MiscompareError extends AteccStatusError {}
export class ParseError extends AteccStatusError {}
export class EccFaultError extends AteccStatusError {}
export class SelfTestError extends AteccStatusError {}
/** The chip's own RNG health test failed (status 0x08). */
export class ChipHealthTestError extends AteccStatusError {}
export class ExecutionError extends AteccStatusError {}
/** A status 0x11 where a command result was expected: the chip restarted (watchdog, brown-out). */
export class UnexpectedWakeError extends AteccStatusError {
  override readonly transient = true;
}
export class WatchdogExpiringError extends AteccStatusError {
  override readonly transient = true;
}
/** Status 0xFF: the chip saw a bad CRC or another communication error in our packet. */
export class CommunicationError extends AteccStatusError {
  override readonly transient = true;
}
export class UnknownStatusError extends AteccStatusError {}

const STATUS_ERRORS: Record<number, [new (s: number, o: number, w: string) => AteccStatusError, string]> = {
  [STATUS_MISCOMPARE]: [MiscompareError, "miscompare"],
  [STATUS_PARSE_ERROR]: [ParseError, "parse error"],
  [STATUS_ECC_FAULT]: [EccFaultError, "ECC fault"],
  [STATUS_SELF_TEST_ERROR]: [SelfTestError, "self-test error"],
  [STATUS_HEALTH_TEST_ERROR]: [ChipHealthTestError, "RNG health-test error"],
  [STATUS_EXECUTION_ERROR]: [ExecutionError, "execution error"],
  [STATUS_AFTER_WAKE]: [UnexpectedWakeError, "after wake"],
  [STATUS_WATCHDOG_EXPIRING]: [WatchdogExpiringError, "watchdog about to expire"],
  [STATUS_COMM_ERROR]: [CommunicationError, "CRC or communication error"],
};

export function statusError(status: number, opcode: number): AteccStatusError {
  const entry = STATUS_ERRORS[status];
  return entry ? new entry[0](status, opcode, entry[1]) : new UnknownStatusError(status, opcode, "unknown status");
}

/** The response's CRC does not match its bytes (bus noise, or a faulty chip). */
export class ResponseCrcError extends AteccError {
  override readonly transient = true;
}
/** The response's count byte is impossible for this command. */
export class ResponseCountError extends AteccError {
  override readonly transient = true;
}
/** The chip did not ACK within the bounded retries: absent, asleep, or hung. */
export class NoResponseError extends AteccError {
  override readonly transient = true;
}
/**
 * A command was acknowledged but its answer did not come within the driver's poll bound
 * (1.5 × the longest execution time the datasheet or cryptoauthlib allows). Not transient:
 * a chip that slow is not suffering a bus glitch, and re-sending a Write or Lock blindly
 * would hide that; the driver resynchronises (idle, wake) before its next command.
 */
export class ExecutionTimeoutError extends AteccError {
  constructor(readonly opcode: number, readonly boundMs: number, readonly reads: number, what: string) {
    super(`ATECC608A ${what} (opcode 0x${opcode.toString(16).padStart(2, "0")}) gave no answer within its ${boundMs} ms poll bound (${reads} reads NACKed)`);
  }
}
/** The wake sequence did not produce 04 11 33 43. */
export class WakeError extends AteccError {
  override readonly transient = true;
}
