// The slice of i2c-bus's PromisifiedBus the driver uses, so the emulator and a
// real /dev/i2c-N bus are interchangeable.
import type { PromisifiedBus } from "i2c-bus";

export type I2cBus = Pick<PromisifiedBus, "i2cRead" | "i2cWrite" | "close">;

/** Linux i2c-dev reports an unacknowledged address as EREMOTEIO (121) or ENXIO (6), depending on the adapter. */
export const NACK_CODES = ["EREMOTEIO", "ENXIO", "EIO"] as const;

export function isNack(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (NACK_CODES as readonly string[]).includes(code);
}

/** An error shaped like the one Node's fs layer raises for a NACK on /dev/i2c-N. */
export function nackError(syscall: "read" | "write", code: (typeof NACK_CODES)[number] = "EREMOTEIO"): NodeJS.ErrnoException {
  const errno = code === "ENXIO" ? 6 : code === "EIO" ? 5 : 121;
  const err = new Error(`${code}: ${code === "ENXIO" ? "no such device or address" : "remote I/O error"}, ${syscall}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/** Standard-mode clock: the Raspberry Pi's default i2c_arm_baudrate, and slow enough for the wake trick. */
export const DEFAULT_I2C_CLOCK_HZ = 100_000;

/** Time one transfer of `bytes` data bytes takes on the wire: start + address byte + data, 9 clocks per byte, + stop (ms). */
export function transferMs(bytes: number, clockHz: number): number {
  return ((1 + bytes) * 9 + 2) / clockHz * 1000;
}
