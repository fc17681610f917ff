// The controller suites' shared rig: an emulated chip behind the real driver,
// harvester and ControllerService on a real port, on a clock that turns
// milliseconds into event-loop turns (the emulator runs in "fast" mode), plus
// the polling and JSON helpers the suites read it with.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { EntropySource } from "../../gen/lokey/controller/v1/controller_pb.js";
import { HealthRegistry, silentLogger, startServer, type RunningServer } from "../../runtime/src/index.js";
import type { Clock } from "../src/atecc608a/clock.js";
import { Atecc608a } from "../src/atecc608a/driver.js";
import { Atecc608aEmulator } from "../src/atecc608a/emulator.js";
import { Harvester } from "../src/harvester.js";
import { controllerBinding, trackHealth } from "../src/service.js";
import { ChipSource } from "../src/sources.js";

export const fastClock: Clock = { now: () => performance.now(), sleep: () => new Promise((r) => setImmediate(r)) };

export interface Rig {
  emu: Atecc608aEmulator;
  harvester: Harvester;
  server: RunningServer;
  base: string;
  close(): Promise<void>;
}

export interface RigOptions {
  /** The chip's configuration zone is locked (the default). */
  configured?: boolean;
  /** Why the harvester is blocked (openSource's verdict on an unconfigured chip). */
  blockedReason?: string;
  generateTimeoutMs?: number;
  /** Hands the harvester the fast clock too (its back-off waits become event-loop turns). */
  fastHarvester?: boolean;
}

/** An emulated chip served on port 0; `emu` takes faults while it runs. */
export async function startRig(opts: RigOptions = {}, emu = new Atecc608aEmulator({ timing: "fast", configured: opts.configured ?? true, clock: fastClock })): Promise<Rig> {
  const source = new ChipSource(EntropySource.EMULATOR, new Atecc608a(emu, { clock: fastClock }));
  await source.probe();
  const harvester = new Harvester(source, {
    log: silentLogger, bufferSize: 4, idleProbeMs: 20, retryMinMs: 1, retryMaxMs: 10, blockedReason: opts.blockedReason,
    ...(opts.fastHarvester && { clock: fastClock }),
  });
  const health = new HealthRegistry();
  const untrack = trackHealth(harvester, health);
  harvester.start();
  const server = await startServer({
    name: "controller-test", port: 0, host: "127.0.0.1", log: silentLogger, health, shutdownTimeoutMs: 2000,
    bindings: [controllerBinding({ harvester, health, i2cBus: 1, i2cAddress: 0x60, generateTimeoutMs: opts.generateTimeoutMs })],
    onClose: async () => {
      untrack();
      await harvester.stop();
    },
  });
  return { emu, harvester, server, base: `http://127.0.0.1:${server.port}`, close: () => server.close() };
}

/** Polls until `fn` is true; bounded by iterations, not by a wall-clock limit. */
export async function until(fn: () => boolean | Promise<boolean>, what: string, tries = 4000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await delay(5);
  }
  assert.fail(`never became true: ${what}`);
}

export const getJson = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as any };
};
