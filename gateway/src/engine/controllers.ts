// The controllers, one per chip: each has its own stream into the TRNG queue
// (feeder.ts feedTrng), its own liveness watch, and its chip's identity, the
// serial number its GetInfo reports. The TRNG queue fills at the sum of the
// chips' rates; a chip that fails or whose health tests fail stops only its
// own stream (the controller holds back samples it cannot vouch for). Chips
// whose address went away stay listed, disconnected, so status says which
// chip is gone.
import { Counter, Gauge, type Registry } from "prom-client";
import { ControllerService, type EntropySource } from "../../../gen/lokey/controller/v1/controller_pb.js";
import type { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import type { ClientTls, GrpcClient } from "../../../runtime/src/index.js";
import type { Member } from "./members.js";
import type { Endpoint } from "./resolver.js";
import type { ChipStatus } from "./types.js";
import { clientFor, healthOf, Link, originOf } from "./upstreams.js";

/**
 * HTTP/2 flow-control window of a controller's stream. The channel default
 * (1 MiB, runtime/src/grpc-client.ts) suits Fortuna's 64 KiB messages; for
 * 32-byte samples at ~590 B/s it would let a controller run ~26,000 samples,
 * half an hour of its chip, ahead of a feed that stopped reading (a full
 * queue), and take them from everything else the chip serves (other
 * gateways, seeding). 4 KiB is about 90 samples in the window; with the
 * stream buffers on both sides, under a thousand run ahead (about a minute of
 * the chip; gateway/test/engine/chips.test.ts), and one round trip needs far
 * less than the window.
 */
export const TRNG_STREAM_WINDOW_BYTES = 4096;

export class ControllerMember implements Member {
  readonly client: GrpcClient<typeof ControllerService>;
  readonly health: GrpcClient<typeof Health>;
  readonly link: Link;
  /** The chip's serial number, hex (GetInfo); empty until it answered, and for the OS fallback. */
  serial = "";
  origin = "unknown";
  /** Samples of its stream handed to the TRNG queue. */
  delivered = 0n;
  /** Samples of it sent to Fortuna as seeds. */
  seeded = 0n;

  constructor(readonly endpoint: Endpoint, tls?: ClientTls) {
    this.client = clientFor(ControllerService, endpoint, tls, { "grpc-node.flow_control_window": TRNG_STREAM_WINDOW_BYTES });
    this.health = healthOf(this.client, endpoint, tls);
    this.link = new Link(endpoint.address);
  }

  /** What the controller says about its chip (GetInfo, and each sample's source). */
  described(info: { source: EntropySource; serialNumber?: string }): void {
    this.origin = originOf(info.source);
    if (info.serialNumber !== undefined) this.serial = info.serialNumber;
  }

  /**
   * The chip's name towards Fortuna (SeedRequest.chip): its serial number,
   * which stays with the chip whatever address its controller has; the
   * address for a source without one (the OS fallback).
   */
  get chipId(): string {
    return this.serial || this.endpoint.address;
  }

  /** Its stream is open and the controller answers: a stream paused by flow control says "streaming" after its peer died. */
  get connected(): boolean {
    return this.link.streaming && this.link.live;
  }

  /** It can give seed material now: alive, and its health tests pass. */
  get available(): boolean {
    return this.link.live && this.link.serving;
  }

  status(): ChipStatus {
    return {
      serialNumber: this.serial,
      address: this.endpoint.address,
      target: this.endpoint.spec,
      origin: this.origin,
      connected: this.connected,
      healthy: this.link.live && this.link.serving,
      samplesDelivered: this.delivered,
      samplesSeeded: this.seeded,
      lastError: this.link.lastError ?? "",
    };
  }

  close(): void {
    this.health.close();
    this.client.close();
  }
}

/** Chips gone from DNS kept in status; more than this many and the oldest is forgotten. */
const MAX_DEPARTED = 32;

/** Every chip seen since start-up: the current controllers, then those whose address went away. */
export class ChipRoster {
  private departed: ChipStatus[] = [];

  constructor(private readonly current: () => ControllerMember[]) {}

  /** A controller whose address went away (its loops have stopped). */
  removed(m: ControllerMember): void {
    const s = m.status();
    this.departed.push({ ...s, connected: false, healthy: false, lastError: `no longer among the addresses of ${s.target}` });
    this.departed = this.departed.slice(-MAX_DEPARTED);
  }

  status(): ChipStatus[] {
    const now = this.current().map((m) => m.status());
    // A chip back at another address (a rescheduled pod) is listed once, as it is now.
    const serials = new Set(now.map((c) => c.serialNumber).filter(Boolean));
    const addresses = new Set(now.map((c) => c.address));
    this.departed = this.departed.filter((d) => !(d.serialNumber && serials.has(d.serialNumber)) && !addresses.has(d.address));
    return [...now, ...this.departed];
  }

  /** The queue's origin: what the connected chips are (several kinds joined), else what any known chip was. */
  origin(): string {
    const members = this.current();
    const connected = members.filter((m) => m.connected);
    const origins = [...new Set((connected.length ? connected : members).map((m) => m.origin).filter((o) => o !== "unknown"))];
    return origins.length ? origins.sort().join(", ") : "unknown";
  }

  connected(): boolean {
    return this.current().some((m) => m.connected);
  }

  reachable(): boolean {
    return this.current().some((m) => m.link.reachable);
  }
}

/** Per chip in /metrics: labelled by serial and address, computed at scrape time like the documented gauges. */
export function registerChipMetrics(registry: Registry, roster: ChipRoster): void {
  const labelNames = ["serial", "address"] as const;
  const labels = (c: ChipStatus) => ({ serial: c.serialNumber, address: c.address });
  new Gauge({
    name: "trng_chip_connected",
    help: "1 while the chip's controller stream is open and the controller answers",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of roster.status()) this.set(labels(c), c.connected ? 1 : 0);
    },
  });
  new Counter({
    name: "trng_chip_samples_delivered_total",
    help: "Samples (32 bytes) of the chip's stream handed to the TRNG queue",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of roster.status()) this.inc(labels(c), Number(c.samplesDelivered));
    },
  });
}
