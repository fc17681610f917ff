// Controller settings, read once at start-up; a bad value stops the process
// with the variable's name.
import { ConfigError, type EnvReader } from "../../runtime/src/index.js";
import { DEFAULT_I2C_CLOCK_HZ } from "./atecc608a/bus.js";
import { DEFAULT_I2C_ADDRESS } from "./atecc608a/protocol.js";

export const TRNG_DEVICES = ["auto", "i2c", "emulator", "os"] as const;
export type TrngDevice = (typeof TRNG_DEVICES)[number];

export interface ControllerConfig {
  /** auto: the chip if it answers, else the OS CSPRNG fallback; i2c: the chip or a start-up error. */
  device: TrngDevice;
  /** Forbid the OS fallback: auto without a chip (and os/emulator) become start-up errors. */
  requireHardware: boolean;
  /** Allow the one-time, irreversible configuration of an unlocked chip. */
  forceConfig: boolean;
  i2cBus: number;
  /** 7-bit address. */
  i2cAddress: number;
  /** The bus clock the adapter runs at (set by the OS, e.g. dtparam i2c_arm_baudrate); used for timing figures and the emulator. */
  i2cClockHz: number;
  /** Seed compatibility: minimum spacing between samples (two Random commands each); 0 = back-to-back. */
  pollIntervalMs: number;
  /** The emulated chip's serial number (EMULATOR_SERIAL); unset: a random one per start. */
  emulatorSerial?: Uint8Array;
}

/**
 * EMULATOR_SERIAL: 18 hex digits, shaped as every ATECC608A's serial is
 * (datasheet §2.2: SN[0..1] = 01 23, SN[8] = EE), so emulated chips that a
 * gateway tells apart by serial look like real ones. Only the emulator has a
 * serial to choose.
 */
function emulatorSerial(env: EnvReader, device: TrngDevice): Uint8Array | undefined {
  const v = env.raw("EMULATOR_SERIAL");
  if (v === undefined) return undefined;
  if (device !== "emulator") throw new ConfigError("EMULATOR_SERIAL", `applies to TRNG_DEVICE=emulator only (a real chip's serial is its own), got TRNG_DEVICE=${device}`);
  if (!/^0123[0-9a-f]{12}ee$/i.test(v)) {
    throw new ConfigError("EMULATOR_SERIAL", `must be 18 hex digits starting 0123 and ending ee, as an ATECC608A's serial (e.g. 0123a1b2c3d4e5f6ee), got ${JSON.stringify(v)}`);
  }
  return Uint8Array.from(Buffer.from(v, "hex"));
}

function address(env: EnvReader, name: string, fallback: number): number {
  const v = env.raw(name);
  if (v === undefined) return fallback;
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  // 7-bit addresses outside 0x08..0x77 are reserved by the I2C specification (§3.1.12).
  if (!(n >= 0x08 && n <= 0x77)) throw new ConfigError(name, `must be a 7-bit I2C address from 0x08 to 0x77 (e.g. 0x60), got ${JSON.stringify(v)}`);
  return n;
}

export function readControllerConfig(env: EnvReader): ControllerConfig {
  const cfg: ControllerConfig = {
    device: env.oneOf("TRNG_DEVICE", "auto", TRNG_DEVICES),
    requireHardware: env.bool("TRNG_REQUIRE_HARDWARE", false),
    forceConfig: env.bool("FORCE_CONFIG", false),
    i2cBus: env.int("I2C_BUS_NUMBER", 1, { min: 0, max: 255 }),
    i2cAddress: address(env, "I2C_ADDRESS", DEFAULT_I2C_ADDRESS),
    i2cClockHz: env.int("I2C_CLOCK_HZ", DEFAULT_I2C_CLOCK_HZ, { min: 10_000, max: 1_000_000 }),
    pollIntervalMs: env.int("TRNG_POLL_INTERVAL_MS", 0, { min: 0, max: 60_000 }),
  };
  cfg.emulatorSerial = emulatorSerial(env, cfg.device);
  if (cfg.requireHardware && (cfg.device === "os" || cfg.device === "emulator")) {
    throw new ConfigError("TRNG_REQUIRE_HARDWARE", `is true but TRNG_DEVICE=${cfg.device} is not hardware`);
  }
  return cfg;
}
