// Where raw 32-byte outputs come from: the ATECC608A (real or emulated) through
// the driver, or the operating system's CSPRNG as a clearly labelled fallback
// paced at the chip's nominal rate. The harvester conditions RANDOM_OUTPUTS_PER_SAMPLE
// of them into each sample, whatever the source, so the fallback's sample rate is
// the chip's too (conditioning.ts says what each source's samples may claim).
import { randomBytes } from "node:crypto";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { DEFAULT_I2C_CLOCK_HZ, transferMs } from "./atecc608a/bus.js";
import { realClock, type Clock } from "./atecc608a/clock.js";
import { lockStateFromConfig, serialFromConfig, type Atecc608a, type LockState } from "./atecc608a/driver.js";
import { MAX_EXEC_MS, OP_RANDOM, RANDOM_SIZE } from "./atecc608a/protocol.js";

export interface DeviceDescription extends LockState {
  /** Info(revision), hex; empty for the OS source. */
  revision: string;
  /** 9-byte serial number, hex; empty for the OS source. */
  serialNumber: string;
}

export interface RawSource {
  readonly kind: EntropySource;
  /** One raw 32-byte output; throws when the device fails (after the driver's bounded retries). */
  next(): Promise<Uint8Array>;
  /** Harvesting pauses: let the device rest (the chip goes idle, keeping its RNG state). */
  pause(): Promise<void>;
  describe(): DeviceDescription;
  close(): Promise<void>;
}

/**
 * One Random command's share of time on the chip: its maximum execution time plus the
 * bus time of the 8-byte command write and the 35-byte response read.
 */
export function randomCycleMs(clockHz = DEFAULT_I2C_CLOCK_HZ): number {
  return MAX_EXEC_MS[OP_RANDOM] + transferMs(1 + 7, clockHz) + transferMs(RANDOM_SIZE + 3, clockHz);
}

export class ChipSource implements RawSource {
  private description: DeviceDescription = { revision: "", serialNumber: "", configLocked: false, dataLocked: false };

  constructor(
    readonly kind: EntropySource.ATECC608A | EntropySource.EMULATOR,
    readonly chip: Atecc608a,
  ) {}

  /** Reads revision, serial and lock state once (in a session that ends idle). */
  async probe(): Promise<DeviceDescription> {
    const [revision, config] = await this.chip.session(async () => [await this.chip.revision(), await this.chip.readConfigZone()] as const);
    this.description = {
      revision: Buffer.from(revision).toString("hex"),
      serialNumber: Buffer.from(serialFromConfig(config)).toString("hex"),
      ...lockStateFromConfig(config),
    };
    return this.description;
  }

  next(): Promise<Uint8Array> {
    return this.chip.random();
  }

  async pause(): Promise<void> {
    await this.chip.idle().catch(() => undefined);
  }

  describe(): DeviceDescription {
    return this.description;
  }

  async close(): Promise<void> {
    await this.pause();
    await this.chip.close();
  }
}

/** The OS CSPRNG: a fallback, never hardware, and never faster than the chip it stands in for (one output per Random cycle). */
export class OsSource implements RawSource {
  readonly kind = EntropySource.OS;
  private nextAt: number | undefined;

  constructor(private readonly periodMs = randomCycleMs(), private readonly clock: Clock = realClock) {}

  async next(): Promise<Uint8Array> {
    const now = this.clock.now();
    // A slot missed while paused is not made up for: no bursts after a pause.
    const at = this.nextAt === undefined || this.nextAt < now ? now : this.nextAt;
    await this.clock.sleep(at - now);
    this.nextAt = at + this.periodMs;
    return new Uint8Array(randomBytes(RANDOM_SIZE));
  }

  async pause(): Promise<void> {}

  describe(): DeviceDescription {
    return { revision: "", serialNumber: "", configLocked: false, dataLocked: false };
  }

  async close(): Promise<void> {}
}
