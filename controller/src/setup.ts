// Source selection at start-up: open the I2C bus lazily (a machine without
// /dev/i2c-* must still start), probe the chip, run the one-time configuration
// check, and fall back to the labelled OS CSPRNG only where allowed.
import type { Logger } from "../../runtime/src/index.js";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import type { I2cBus } from "./atecc608a/bus.js";
import { configureDevice } from "./atecc608a/configure.js";
import { Atecc608a } from "./atecc608a/driver.js";
import { Atecc608aEmulator } from "./atecc608a/emulator.js";
import { REVISION_608A } from "./atecc608a/protocol.js";
import type { ControllerConfig } from "./config.js";
import { ChipSource, OsSource, randomCycleMs, type RawSource } from "./sources.js";

export class StartupError extends Error {
  override name = "StartupError";
}

export interface OpenedSource {
  source: RawSource;
  /** Set when the source must not be harvested (an unlocked chip without FORCE_CONFIG). */
  blockedReason?: string;
}

export type BusOpener = (busNumber: number) => Promise<I2cBus>;

/** i2c-bus is a native module: imported only when a bus is actually wanted. */
export const openI2cBus: BusOpener = async (busNumber) => {
  const { openPromisified } = await import("i2c-bus");
  return openPromisified(busNumber);
};

/** Probes the chip and applies the configuration rules; throws when it does not answer. */
export async function prepareChip(source: ChipSource, cfg: ControllerConfig, log: Logger): Promise<OpenedSource> {
  const d = await source.probe();
  // The emulator answers the same probe; the log names what actually answered.
  const what = source.kind === EntropySource.EMULATOR ? "ATECC608A emulator (not hardware)" : "ATECC608A";
  log.info(`${what} found`, { revision: d.revision, serial: d.serialNumber, configLocked: d.configLocked, dataLocked: d.dataLocked });
  if (parseInt(d.revision.slice(4, 6), 16) !== REVISION_608A) log.warn("device revision is not an ATECC608A's", { revision: d.revision });
  if (d.configLocked) return { source };
  const outcome = await configureDevice(source.chip, { force: cfg.forceConfig, log });
  if (outcome === "refused") {
    return {
      source,
      blockedReason: "config zone unlocked: the chip returns a fixed test pattern, not random data; configure it once with FORCE_CONFIG=true",
    };
  }
  await source.probe();
  return { source };
}

async function openChip(kind: EntropySource.ATECC608A | EntropySource.EMULATOR, bus: I2cBus, cfg: ControllerConfig, log: Logger): Promise<OpenedSource> {
  const chip = new Atecc608a(bus, { address: cfg.i2cAddress, log });
  const source = new ChipSource(kind, chip);
  try {
    return await prepareChip(source, cfg, log);
  } catch (err) {
    await bus.close().catch(() => undefined);
    throw err;
  }
}

export async function openSource(cfg: ControllerConfig, log: Logger, openBus: BusOpener = openI2cBus): Promise<OpenedSource> {
  const where = `I2C bus ${cfg.i2cBus} address 0x${cfg.i2cAddress.toString(16)}`;
  const osFallback = (): OpenedSource => ({ source: new OsSource(randomCycleMs(cfg.i2cClockHz)) });
  switch (cfg.device) {
    case "os":
      log.warn("entropy source: the operating system's CSPRNG (fallback, not a hardware TRNG), paced at the chip's nominal rate");
      return osFallback();
    case "emulator":
      log.warn("entropy source: the ATECC608A EMULATOR (development only, not a hardware TRNG)");
      return openChip(EntropySource.EMULATOR, new Atecc608aEmulator({ address: cfg.i2cAddress, clockHz: cfg.i2cClockHz, configured: true, serial: cfg.emulatorSerial }), cfg, log);
    case "i2c":
    case "auto": {
      try {
        const bus = await openBus(cfg.i2cBus);
        const opened = await openChip(EntropySource.ATECC608A, bus, cfg, log);
        log.info("entropy source: ATECC608A hardware TRNG", { bus: cfg.i2cBus, address: cfg.i2cAddress });
        return opened;
      } catch (err) {
        const why = `no ATECC608A answering on ${where}: ${err instanceof Error ? err.message : String(err)}`;
        if (cfg.device === "i2c") throw new StartupError(`TRNG_DEVICE=i2c but ${why}`);
        if (cfg.requireHardware) throw new StartupError(`TRNG_REQUIRE_HARDWARE=true but ${why}`);
        log.warn(`${why}; falling back to the operating system's CSPRNG (NOT a hardware TRNG), paced at the chip's nominal rate`);
        return osFallback();
      }
    }
  }
}
