// Who may put material into Fortuna, and which accumulator source each
// seeder writes. Fortuna's analysis assumes an attacker may control some
// sources, never the way the other sources' events are spread: each source
// walks the pools in its own round robin (Cryptography Engineering 9.5.2,
// 9.5.6). A source shared by two callers would let one of them choose the
// pools the other's events land in, so every seeding caller is a source of
// its own, and so is every chip a caller seeds from (SeedRequest.chip): a
// gateway fed by several chips gives each its own source, and one bad chip
// cannot steer where the others' samples land.
import { Code, ConnectError } from "@connectrpc/connect";

/** 9.5.6 "AddRandomEvent": a source number is one byte, 0..255. */
export const MAX_SOURCES = 256;

/**
 * Source numbers by seeder identity and chip, given out in order of first use
 * and kept for the life of the process. Identities are certificate names the
 * operator's CA signed (or the one "loopback"), and chips are the serial
 * numbers of the hardware behind them, so the table stays small; past `max`
 * a new pair is refused rather than folded into a shared source, which would
 * hand the pool schedule of that source to its other members.
 */
export class SourceTable {
  private readonly ids = new Map<string, number>();

  constructor(private readonly max: number = MAX_SOURCES) {
    if (!Number.isInteger(max) || max < 1 || max > MAX_SOURCES) throw new RangeError(`max must be 1..${MAX_SOURCES}, got ${max}`);
  }

  get size(): number {
    return this.ids.size;
  }

  /** The source of `identity`'s seeds from `chip` ("": the caller's own source). */
  sourceOf(identity: string, chip = ""): number {
    // A separator no certificate name holds, so ("a", "b:c") and ("a:b", "c") stay apart.
    const key = `${identity}\u0000${chip}`;
    let source = this.ids.get(key);
    if (source === undefined) {
      if (this.ids.size >= this.max) {
        throw new ConnectError(
          `Fortuna already has ${this.max} seeding sources (one per caller and chip), each its own entropy source; no source is left for ${JSON.stringify(chip || identity)}`,
          Code.ResourceExhausted,
        );
      }
      source = this.ids.size;
      this.ids.set(key, source);
    }
    return source;
  }
}
