// Numbers of the ATECC608A I2C protocol. Sources: Microchip's ATECC608A datasheet
// (sections named at each constant), the I2C-bus specification UM10204, and
// Microchip's vendor library cryptoauthlib 3.7.8; restated with the reasoning
// in docs/reference/atecc608a.md.

/** Default 7-bit address (config byte 16 holds the 8-bit form 0xC0). */
export const DEFAULT_I2C_ADDRESS = 0x60;

// Word address: the first byte of every write (datasheet §6.2.1, "Word Address Values").
export const WORD_ADDRESS_RESET = 0x00;
export const WORD_ADDRESS_SLEEP = 0x01;
export const WORD_ADDRESS_IDLE = 0x02;
export const WORD_ADDRESS_COMMAND = 0x03;

// Opcodes (datasheet §9 "Command Opcodes").
export const OP_READ = 0x02;
export const OP_WRITE = 0x12;
export const OP_LOCK = 0x17;
export const OP_RANDOM = 0x1b;
export const OP_UPDATE_EXTRA = 0x20;
export const OP_INFO = 0x30;

/** A command's execution time as the datasheet and the vendor library give it, and how long the driver waits. */
export interface ExecutionTime {
  command: string;
  /**
   * Datasheet "Command Execution Time" table, maximum column, as this project has carried it (ms): the
   * driver's first look for the answer. These equal the ATECC508A's figures, hence the second column.
   */
  datasheetMaxMs: number;
  /** cryptoauthlib 3.7.8 calib_execution.c, ATECC608 table (the same under clock dividers M0, M1 and M2) (ms). */
  cryptoauthlibMs: number;
  /** The driver gives up polling this long after the command went out: ceil(1.5 × the larger of the two) (ms). */
  pollBoundMs: number;
}

/** Head-room over the longest time the datasheet or the vendor library allows a command. */
export const EXECUTION_TIME_MARGIN = 1.5;

/**
 * Every command the driver sends (docs/reference/atecc608a.md "Execution times and polling").
 * pollBoundMs = ceil(EXECUTION_TIME_MARGIN × max(datasheetMaxMs, cryptoauthlibMs)); a test checks each row.
 */
export const EXECUTION_TIMES: Readonly<Record<number, ExecutionTime>> = {
  [OP_READ]: { command: "Read", datasheetMaxMs: 1, cryptoauthlibMs: 5, pollBoundMs: 8 },
  [OP_WRITE]: { command: "Write", datasheetMaxMs: 26, cryptoauthlibMs: 45, pollBoundMs: 68 },
  [OP_LOCK]: { command: "Lock", datasheetMaxMs: 32, cryptoauthlibMs: 35, pollBoundMs: 53 },
  [OP_RANDOM]: { command: "Random", datasheetMaxMs: 23, cryptoauthlibMs: 23, pollBoundMs: 35 },
  [OP_UPDATE_EXTRA]: { command: "UpdateExtra", datasheetMaxMs: 10, cryptoauthlibMs: 10, pollBoundMs: 15 },
  [OP_INFO]: { command: "Info", datasheetMaxMs: 1, cryptoauthlibMs: 5, pollBoundMs: 8 },
};

/** Datasheet maximum execution time per opcode (ms): the driver's first read and the Random pacing figure. */
export const MAX_EXEC_MS: Readonly<Record<number, number>> = Object.fromEntries(
  Object.entries(EXECUTION_TIMES).map(([op, t]) => [op, t.datasheetMaxMs]),
);

/** The longest time the datasheet or cryptoauthlib allows `opcode` (ms); unknown opcodes get the longest known. */
export function longestExecMs(opcode: number): number {
  const t = EXECUTION_TIMES[opcode];
  if (t) return Math.max(t.datasheetMaxMs, t.cryptoauthlibMs);
  return Math.max(...Object.values(EXECUTION_TIMES).map((e) => Math.max(e.datasheetMaxMs, e.cryptoauthlibMs)));
}

/** How long after sending `opcode` the driver keeps polling for the answer (ms). */
export function pollBoundMs(opcode: number): number {
  return EXECUTION_TIMES[opcode]?.pollBoundMs ?? Math.ceil(EXECUTION_TIME_MARGIN * longestExecMs(opcode));
}

/** Spacing of the response reads while the chip NACKs (ms); a NACKed read costs one address byte on the bus. */
export const RESPONSE_POLL_INTERVAL_MS = 1;

// Wake (datasheet §7.1 "I/O Conditions", tWLO and tWHI; wake on I2C: UM10204 §3.2.10 "General call address").
/** SDA must stay low at least this long for the chip to wake (µs). */
export const T_WLO_US = 60;
/** Wait after the wake pulse before the chip talks (ms). */
export const T_WHI_MS = 1.5;
/** The wake pulse is a write to the general-call address: its 8 address bits hold SDA low; nobody ACKs it. */
export const I2C_GENERAL_CALL_ADDRESS = 0x00;
/** The byte after a general-call address: UM10204 §3.2.10 forbids 00h there; cryptoauthlib sends 01h too. */
export const WAKE_GENERAL_CALL_BYTE = 0x01;
/** cryptoauthlib's ATCA_POST_DELAY_MSEC: a power-on self test may hold back the wake answer this long (ms). */
export const WAKE_SELF_TEST_DELAY_MS = 25;
/** How long after the wake pulse the driver polls for the wake answer: 1.5 × (tWHI + the self-test delay) (ms). */
export const WAKE_POLL_BOUND_MS = Math.ceil(EXECUTION_TIME_MARGIN * (T_WHI_MS + WAKE_SELF_TEST_DELAY_MS));
/** The watchdog puts an awake chip to sleep this long after wake (datasheet §6.5, tWATCHDOG typ.). */
export const WATCHDOG_MS = 1300;

/** The chip's answer to a read right after wake: count 4, status 0x11, CRC 33 43 (datasheet §6.1). */
export const WAKE_RESPONSE = Uint8Array.of(0x04, 0x11, 0x33, 0x43);

// Status codes in a 4-byte response (datasheet §6.3 "Status/Error Codes").
export const STATUS_SUCCESS = 0x00;
export const STATUS_MISCOMPARE = 0x01;
export const STATUS_PARSE_ERROR = 0x03;
export const STATUS_ECC_FAULT = 0x05;
export const STATUS_SELF_TEST_ERROR = 0x07;
export const STATUS_HEALTH_TEST_ERROR = 0x08;
export const STATUS_EXECUTION_ERROR = 0x0f;
export const STATUS_AFTER_WAKE = 0x11;
export const STATUS_WATCHDOG_EXPIRING = 0xee;
export const STATUS_COMM_ERROR = 0xff;

// Zones (datasheet §9.1.4 "Zone encoding"): bit 7 selects a 32-byte transfer.
export const ZONE_CONFIG = 0x00;
export const ZONE_32_BYTES = 0x80;
// Lock modes (datasheet §9.1.10 "Lock Command"): bit 7 skips the summary CRC check.
export const LOCK_CONFIG_WITH_CRC = 0x00;
export const LOCK_CONFIG_NO_CRC = 0x80;
export const LOCK_DATA_NO_CRC = 0x81;

// UpdateExtra modes (datasheet "UpdateExtra Command", Param1).
/** Write config byte 84 (UserExtra) with Param2's low byte, if it is still 0x00. */
export const UPDATE_EXTRA_USER_EXTRA = 0x00;
/** Write config byte 85 (UserExtraAdd; cryptoauthlib's "Selector") with Param2's low byte, if it is still 0x00. */
export const UPDATE_EXTRA_USER_EXTRA_ADD = 0x01;
/** Decrement the limited-use counter of the key in slot Param2. */
export const UPDATE_EXTRA_DECREMENT_LIMITED_USE = 0x02;

// Config zone layout (datasheet §2.2 "Configuration Zone").
export const CONFIG_ZONE_SIZE = 128;
/** Bytes 0..15 are factory-programmed and read-only. */
export const CONFIG_WRITABLE_FROM = 16;
/** Byte 13, AES_Enable: bit 0 enables the AES command (factory 0x01). */
export const CONFIG_AES_ENABLE_BYTE = 13;
/** Byte 14, I2C_Enable: bit 0 set on I2C parts, clear on single-wire parts (factory 0x01 on an I2C part). */
export const CONFIG_I2C_ENABLE_BYTE = 14;
/** Word 0x15 (bytes 84..87) holds UserExtra, UserExtraAdd and the lock bytes: not writable with Write. */
export const CONFIG_LOCK_WORD = 0x15;
export const CONFIG_USER_EXTRA_BYTE = 84;
export const CONFIG_USER_EXTRA_ADD_BYTE = 85;
/** LockValue: the data and OTP zones. */
export const CONFIG_LOCK_VALUE_BYTE = 86;
/** LockConfig: the config zone. */
export const CONFIG_LOCK_CONFIG_BYTE = 87;
/** The one documented "unlocked" value of a lock byte (datasheet §2.2 "Configuration Zone"). */
export const LOCK_UNLOCKED = 0x55;
/** What the Lock command writes (datasheet §2.2 "Configuration Zone"). */
export const LOCK_LOCKED = 0x00;

/**
 * A lock byte counts as locked unless it holds the documented unlocked value 0x55. The datasheet
 * names only 0x55 and 0x00; reading any other value as locked (as cryptoauthlib's calib_is_locked
 * does) means an irreversible configuration only ever starts from the one state documented as open.
 */
export function lockByteIsLocked(value: number): boolean {
  return value !== LOCK_UNLOCKED;
}

/** Random's answer while the config zone is unlocked (datasheet §9.1.12): FF FF 00 00 repeated. */
export const UNLOCKED_TEST_PATTERN = Uint8Array.from({ length: 32 }, (_, i) => (i % 4 < 2 ? 0xff : 0x00));
export const RANDOM_SIZE = 32;

/** Info(revision) bytes 2..3 of an ATECC608A (datasheet §9.1.8; 0x50 on a 508A). */
export const REVISION_608A = 0x60;
