// The contract between the gateway's engine (RocksDB queues fed by the
// controller and Fortuna streams) and its API layer (REST/RPC handlers).
// The API speaks in bytes; value formats, offsets in values and rendering
// are the API's business.
import type { Registry } from "prom-client";
import type { ChipStatus as ChipStatusMessage, FortunaInstanceStatus as FortunaInstanceStatusMessage } from "../../../gen/lokey/v1/gateway_pb.js";

export type SourceName = "trng" | "fortuna";

export interface QueueStatus {
  pollingCount: bigint;
  queueCurrent: number;
  queueCapacity: number;
  queuePercentage: number;
  queueDropped: bigint;
  consumedCount: bigint;
  unconsumedCount: bigint;
  totalGenerated: bigint;
  /** Where the bytes come from: "atecc608a", "emulator", "os-csprng (fallback)", "fortuna". */
  origin: string;
  /** Whether the upstream stream is currently open. */
  connected: boolean;
}

/** One controller and its chip, as gateway.proto's ChipStatus declares it. */
export type ChipStatus = Omit<ChipStatusMessage, "$typeName" | "$unknown">;

/** One Fortuna instance, as gateway.proto's FortunaInstanceStatus declares it. */
export type FortunaInstanceStatus = Omit<FortunaInstanceStatusMessage, "$typeName" | "$unknown">;

export interface EngineStatus {
  trng: QueueStatus;
  fortuna: QueueStatus;
  /** Every chip the TRNG queue is fed from, and those lost since start-up. */
  chips: ChipStatus[];
  fortunaInstances: FortunaInstanceStatus[];
  database: {
    sizeBytes: bigint;
    sizeHuman: string;
    path: string;
    /** How queued randomness is stored at rest and whether it survives a restart. */
    encryption: string;
    /** Why the database cannot be written (EngineHealth.storageFault); unset while it can. */
    storageFault?: string;
  };
}

export interface EngineHealth {
  /** At least one controller answers. */
  controller: boolean;
  fortuna: boolean;
  database: boolean;
  /** Fortuna has been seeded by this gateway at least once since start. */
  seeded: boolean;
  /** Last seeding failure, cleared by the next success. */
  seedError?: string;
  /** Why the database cannot be written (disk full, I/O errors): nothing is served meanwhile (storage-fault.ts). */
  storageFault?: string;
}

export interface QueueSizes {
  trng: number;
  fortuna: number;
}

export interface GatewayEngine {
  /**
   * All or nothing: skip `offsetBytes` bytes from the head of the queue, return the
   * next `bytes` bytes, or null ("No data available") with nothing consumed. In consume
   * mode the served bytes are deleted durably before this resolves; concurrent calls
   * never receive the same bytes. Fortuna shortfalls are pulled from Fortuna directly,
   * bounded by `signal` (the request's deadline).
   */
  take(source: SourceName, bytes: number, offsetBytes: number, signal?: AbortSignal): Promise<Uint8Array | null>;
  /** For streams: between 1 and `maxBytes` bytes, always consumed; waits for data until `signal` aborts (then rejects). */
  takeSome(source: SourceName, maxBytes: number, signal: AbortSignal): Promise<Uint8Array>;
  status(): Promise<EngineStatus>;
  health(): EngineHealth;
  getQueueConfig(): QueueSizes;
  /** Applies at once (shrinking drops the oldest, counted) and persists. */
  setQueueConfig(sizes: Partial<QueueSizes>): Promise<QueueSizes>;
  getConsume(): boolean;
  setConsume(consume: boolean): Promise<boolean>;
  /** prom-client registry with the documented gauges (collected at scrape time) and process metrics. */
  readonly metrics: Registry;
  close(): Promise<void>;
}
