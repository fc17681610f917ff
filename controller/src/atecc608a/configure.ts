// One-time, irreversible configuration as the original design describes it
// (docs/reference/original-design.md, "Configuration of the chip"): check
// the lock state (a lock byte other than 0x55 counts as locked: protocol.ts
// lockByteIsLocked); only when forced, write the TLS template to bytes 16..127 in
// 4-byte words (skipping the read-only ones), set UserExtra/UserExtraAdd with
// UpdateExtra where the template wants them non-zero (as cryptoauthlib's
// atcab_write_config_zone does), lock the config zone against the CRC of what the
// chip holds, and verify. Every step is logged as an audit trail.
import type { Logger } from "../../../runtime/src/index.js";
import { crc16Value } from "./crc.js";
import { lockStateFromBytes, type Atecc608a } from "./driver.js";
import {
  CONFIG_LOCK_WORD, CONFIG_USER_EXTRA_ADD_BYTE, CONFIG_USER_EXTRA_BYTE, CONFIG_WRITABLE_FROM, CONFIG_ZONE_SIZE, LOCK_CONFIG_WITH_CRC,
  UPDATE_EXTRA_USER_EXTRA, UPDATE_EXTRA_USER_EXTRA_ADD, ZONE_CONFIG,
} from "./protocol.js";
import { TLS_CONFIG_TEMPLATE } from "./tls-template.js";

export type ConfigureOutcome = "already-locked" | "refused" | "configured";

export class ConfigurationError extends Error {
  override name = "ConfigurationError";
}

/** Words 4..31 minus the lock word: the ones Write may change. */
export function writableConfigWords(): number[] {
  const words: number[] = [];
  for (let w = CONFIG_WRITABLE_FROM / 4; w < CONFIG_ZONE_SIZE / 4; w++) if (w !== CONFIG_LOCK_WORD) words.push(w);
  return words;
}

export async function configureDevice(
  chip: Atecc608a,
  opts: { force: boolean; log: Logger; template?: Uint8Array },
): Promise<ConfigureOutcome> {
  const { log, force } = opts;
  const template = opts.template ?? TLS_CONFIG_TEMPLATE;
  return chip.session(async () => {
    log.info("configuration: checking lock state");
    const lock = await chip.lockBytes();
    const state = lockStateFromBytes(lock);
    const hex = (b: number) => `0x${b.toString(16).padStart(2, "0")}`;
    log.info("configuration: lock state read", { ...state, lockValue: hex(lock.lockValue), lockConfig: hex(lock.lockConfig) });
    if (state.configLocked) {
      log.info(`configuration: config zone locked (LockConfig ${hex(lock.lockConfig)} is not the unlocked value 0x55), nothing to do`);
      return "already-locked";
    }
    if (!force) {
      log.warn(
        "configuration: config zone is UNLOCKED and FORCE_CONFIG is not true; refusing to configure. " +
          "An unlocked chip returns a fixed test pattern instead of random data. Locking is irreversible: set FORCE_CONFIG=true once to do it.",
      );
      return "refused";
    }
    log.warn("configuration: FORCE_CONFIG=true, writing the TLS template (irreversible once locked)");
    for (const word of writableConfigWords()) {
      const bytes = template.subarray(word * 4, word * 4 + 4);
      await chip.write(ZONE_CONFIG, word, bytes);
      log.info("configuration: wrote config word", { word, bytes: Buffer.from(bytes).toString("hex") });
    }
    for (const [mode, at] of [[UPDATE_EXTRA_USER_EXTRA, CONFIG_USER_EXTRA_BYTE], [UPDATE_EXTRA_USER_EXTRA_ADD, CONFIG_USER_EXTRA_ADD_BYTE]]) {
      if (template[at] === 0x00) continue;
      await chip.updateExtra(mode, template[at]);
      log.info("configuration: set config byte with UpdateExtra", { byte: at, value: hex(template[at]) });
    }
    const written = await chip.readConfigZone();
    // Bytes 84/85 are checked only where the template set them: a zero there asks for nothing.
    const extra = [CONFIG_USER_EXTRA_BYTE, CONFIG_USER_EXTRA_ADD_BYTE].filter((at) => template[at] !== 0x00);
    const expected = [...writableConfigWords().flatMap((w) => [w * 4, w * 4 + 1, w * 4 + 2, w * 4 + 3]), ...extra];
    for (const i of expected) {
      if (written[i] !== template[i]) throw new ConfigurationError(`config byte ${i} reads ${hex(written[i])} after writing ${hex(template[i])}`);
    }
    log.info("configuration: template verified by read-back");
    const crc = crc16Value(written);
    log.warn("configuration: locking the config zone", { summaryCrc: crc.toString(16).padStart(4, "0") });
    await chip.lock(LOCK_CONFIG_WITH_CRC, crc);
    const after = await chip.lockState();
    log.info("configuration: lock state after locking", { ...after });
    if (!after.configLocked) throw new ConfigurationError("config zone still unlocked after Lock");
    log.info("configuration: done, the device is permanently configured");
    return "configured";
  });
}
