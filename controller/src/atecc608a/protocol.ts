// Numbers of the ATECC608A I2C protocol. Sources: Microchip ATECC608A datasheet
// (DS40001977), restated in /work/shared/reference/atecc608a.md.

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
export const OP_INFO = 0x30;

/** Maximum execution time per opcode, ms (datasheet Table "Command Execution Times", max column). */
export const MAX_EXEC_MS: Record<number, number> = {
  [OP_RANDOM]: 23,
  [OP_INFO]: 1,
  [OP_READ]: 1,
  [OP_WRITE]: 26,
  [OP_LOCK]: 32,
};

// Wake timing (datasheet §7.1 "I/O Conditions", tWLO and tWHI).
/** SDA must stay low at least this long for the chip to wake (µs). */
export const T_WLO_US = 60;
/** Wait after the wake pulse before the chip talks (ms). */
export const T_WHI_MS = 1.5;
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

// Config zone layout (datasheet §2.2 "Configuration Zone").
export const CONFIG_ZONE_SIZE = 128;
/** Bytes 0..15 are factory-programmed and read-only. */
export const CONFIG_WRITABLE_FROM = 16;
/** Word 0x15 (bytes 84..87) holds UserExtra, Selector and the lock bytes: not writable with Write. */
export const CONFIG_LOCK_WORD = 0x15;
export const CONFIG_LOCK_VALUE_BYTE = 86;
export const CONFIG_LOCK_CONFIG_BYTE = 87;
export const LOCK_UNLOCKED = 0x55;
export const LOCK_LOCKED = 0x00;

/** Random's answer while the config zone is unlocked (datasheet §9.1.12): FF FF 00 00 repeated. */
export const UNLOCKED_TEST_PATTERN = Uint8Array.from({ length: 32 }, (_, i) => (i % 4 < 2 ? 0xff : 0x00));
export const RANDOM_SIZE = 32;

/** Info(revision) bytes 2..3 of an ATECC608A (datasheet §9.1.8; 0x50 on a 508A). */
export const REVISION_608A = 0x60;

/** Read retries while the chip NACKs after the maximum execution time (public drivers use 20). */
export const RESPONSE_POLL_TRIES = 20;
/** Spacing of those retries, ms. */
export const RESPONSE_POLL_INTERVAL_MS = 1;
