// Queued randomness at rest (gateway/README.md, "At rest"): every queue entry
// is stored as AES-256-CTR ciphertext (NIST SP 800-38A §6.5) under a data key
// that is never written to disk in plaintext, so the database files (WAL, SST)
// and any copy of them hold no byte a client was or will be served. Only the
// entries' values are encrypted: keys (ids, counts), counters and settings
// are not secret.
//
// Counter rule. CTR is only as strong as the uniqueness of its counter blocks
// under one key (SP 800-38A §6.5 and Appendix B): two values encrypted with a
// shared counter block give away the XOR of their plaintexts, and a client
// served one of them could then read the other from a copy of the disk. So the
// store encrypts everything it writes as ONE keystream, each value with the
// keystream bytes after the previous value's (Appendix B.2: each message's
// first counter block follows the last one of the message before), and
// nothing is re-encrypted in place: the rest of a partly served segment is
// stored again further along the keystream. A counter block is a random salt
// (8 bytes, drawn per stream) ‖ the block's index in the stream (8 bytes), and
// each value starts with the salt and the keystream position of its first
// byte. A stream is one store's lifetime (one process): two sharing a key
// (QUEUE_KEY_FILE) repeat a counter block only if their random 64-bit salts
// collide; within one, positions only grow, and a stream is restarted with a
// new salt long before its 64-bit block index could wrap.
//
// Integrity: no authentication tag (GCM, SP 800-38D) - the threat is a reader
// of DB_PATH (a stolen card, a backup), not a writer. Accidental corruption
// is caught by RocksDB's checksums on every WAL record and SST block; someone
// able to write DB_PATH can as well replace the gateway beside it, and cannot
// steer edited ciphertext to chosen output without the plaintext, which is
// random. A tag would cost 16 bytes per entry and a GHASH pass over every byte.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomFillSync, type Cipher, type KeyObject } from "node:crypto";

const ALGORITHM = "aes-256-ctr";
/** Size of the queue key (AES-256). */
export const QUEUE_KEY_BYTES = 32;
/** Bytes in front of every stored value: the stream's salt, and the keystream position of the value's first byte. */
export const HEADER_BYTES = 16;
const SALT_BYTES = 8;
/** A stream is restarted (with a new salt) before its position leaves the integers a double holds exactly. */
const STREAM_BYTES = 2 ** 52;
const ZEROS = Buffer.alloc(16);

/**
 * Subkeys by HKDF (RFC 5869), so the value stored to recognise the key
 * reveals nothing about the key that encrypts.
 */
function subkey(key: Uint8Array, info: string, bytes: number): Buffer {
  return Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), info, bytes));
}

/** The counter block holding keystream byte `position` of the stream with `salt`. */
function counterBlock(salt: Uint8Array, position: number): Buffer {
  const block = Buffer.alloc(16);
  block.set(salt.subarray(0, SALT_BYTES));
  block.writeBigUInt64BE(BigInt(Math.floor(position / 16)), SALT_BYTES);
  return block;
}

export class QueueCipher {
  private readonly key: KeyObject;
  /** Stored beside the queues: tells at start-up whether they were written under this key (queue-key.ts). */
  readonly check: Buffer;
  private readonly salt = Buffer.alloc(SALT_BYTES);
  private stream!: Cipher;
  /** Keystream bytes used so far. */
  private position = STREAM_BYTES;

  /** @param key QUEUE_KEY_BYTES bytes; not kept (the caller may wipe it). */
  constructor(key: Uint8Array) {
    if (key.length !== QUEUE_KEY_BYTES) throw new RangeError(`the queue key must be ${QUEUE_KEY_BYTES} bytes, got ${key.length}`);
    const data = subkey(key, "lokey queue data key", QUEUE_KEY_BYTES);
    this.key = createSecretKey(data);
    data.fill(0);
    this.check = subkey(key, "lokey queue key check", 16);
  }

  /** `plain` as stored: the header, then its ciphertext (the next bytes of the keystream). */
  seal(plain: Uint8Array): Buffer {
    if (this.position + plain.length > STREAM_BYTES) {
      randomFillSync(this.salt);
      this.stream = createCipheriv(ALGORITHM, this.key, counterBlock(this.salt, 0));
      this.position = 0;
    }
    const out = Buffer.allocUnsafe(HEADER_BYTES + plain.length);
    this.salt.copy(out);
    out.writeBigUInt64BE(BigInt(this.position), SALT_BYTES);
    this.stream.update(plain).copy(out, HEADER_BYTES);
    this.position += plain.length;
    return out;
  }

  /** The plaintext of a value seal() made (a new buffer the caller owns). */
  open(value: Buffer): Buffer {
    if (value.length < HEADER_BYTES) throw new Error(`a queue value of ${value.length} bytes is too short to be encrypted`);
    const position = Number(value.readBigUInt64BE(SALT_BYTES));
    const d = createDecipheriv(ALGORITHM, this.key, counterBlock(value, position));
    // A value may start inside a counter block: skip the keystream before it.
    if (position % 16 > 0) d.update(ZEROS.subarray(0, position % 16));
    return d.update(value.subarray(HEADER_BYTES));
  }
}
