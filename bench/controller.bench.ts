// Controller harvest rate against the timing-accurate emulator (datasheet maximum
// execution times, 100 kHz bus transfer times), as a ratio to the chip's ceiling:
// each sample conditions RANDOM_OUTPUTS_PER_SAMPLE (2) Random outputs, so the ceiling is
// 1 / (2 × (Random execution time + bus transfer time)) samples/s. The full path is
// measured: driver, raw health tests, SHA-256 conditioning, the health gate and
// hand-out to a reader.
import { performance } from "node:perf_hooks";
import { EntropySource } from "../gen/lokey/controller/v1/controller_pb.js";
import { silentLogger } from "../runtime/src/index.js";
import { DEFAULT_I2C_CLOCK_HZ } from "../controller/src/atecc608a/bus.js";
import { Atecc608a } from "../controller/src/atecc608a/driver.js";
import { Atecc608aEmulator } from "../controller/src/atecc608a/emulator.js";
import { MAX_EXEC_MS, OP_RANDOM } from "../controller/src/atecc608a/protocol.js";
import { RANDOM_OUTPUTS_PER_SAMPLE } from "../controller/src/conditioning.js";
import { Harvester } from "../controller/src/harvester.js";
import { ChipSource, OsSource, randomCycleMs, type RawSource } from "../controller/src/sources.js";
import type { BenchRow } from "./types.js";

const WINDOW_MS = 6000;

async function harvestRate(source: RawSource): Promise<number> {
  const harvester = new Harvester(source, { log: silentLogger });
  harvester.start();
  const reader = new AbortController();
  // A reader that always wants more, so harvesting never pauses.
  const drain = (async () => {
    try {
      for (;;) await harvester.take(reader.signal);
    } catch {
      /* stopped */
    }
  })();
  while (!harvester.status().serving) await new Promise((r) => setTimeout(r, 20));
  const h0 = harvester.status().harvested;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const rate = Number(harvester.status().harvested - h0) / ((performance.now() - t0) / 1000);
  reader.abort();
  await harvester.stop();
  await drain;
  return rate;
}

export default async function (): Promise<BenchRow[]> {
  const clockHz = DEFAULT_I2C_CLOCK_HZ;
  const ceiling = 1000 / (RANDOM_OUTPUTS_PER_SAMPLE * randomCycleMs(clockHz));
  const ceilingName = `chip ceiling 1/(${RANDOM_OUTPUTS_PER_SAMPLE} × (Random ${MAX_EXEC_MS[OP_RANDOM]} ms + bus transfer))`;
  const emu = new Atecc608aEmulator({ timing: "datasheet", clockHz, configured: true });
  const chip = new ChipSource(EntropySource.EMULATOR, new Atecc608a(emu));
  await chip.probe();
  const chipRate = await harvestRate(chip);
  const osRate = await harvestRate(new OsSource(randomCycleMs(clockHz)));
  return [
    {
      name: `controller harvest, emulated ATECC608A @ ${clockHz / 1000} kHz (watchdog re-wakes: ${emu.stats.wakes})`,
      value: chipRate,
      unit: "samples/s",
      baselineName: ceilingName,
      baseline: ceiling,
      target: 0.9,
    },
    {
      name: "controller OS fallback pacing (should match the chip, not flood)",
      value: osRate,
      unit: "samples/s",
      baselineName: ceilingName,
      baseline: ceiling,
    },
  ];
}
