// Fortuna's GenerateBlocks and the rekey after it (Cryptography Engineering
// 9.4.3-9.4.4; docs/reference/fortuna.md) in one call: AES-256 over a 128-bit little-endian
// block counter, encrypted straight into the caller's buffer.
//
// Why this is native: OpenSSL's CTR mode counts big-endian, and node:crypto
// only returns fresh buffers. The portable path (fortuna/src/counter-blocks.ts)
// must therefore write a whole request's counter blocks into one buffer and run
// ECB over it: a 1 MiB pass that costs 15-25% next to the AES itself. Here the
// blocks are built a piece at a time in a buffer that stays in L1 and encrypted
// from there with OpenSSL's ECB: the same AES code node:crypto runs, since the
// symbols resolve against the node binary that loads us.
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define AES_BLOCK_BYTES 16   // FIPS 197, 3.1
#define AES256_KEY_BYTES 32  // FIPS 197, 5
#define REKEY_BLOCKS 2       // 9.4.4: K = GenerateBlocks(2)
#define PIECE_BLOCKS 256     // 4 KiB per ECB call: stays in L1 beside the output it makes

typedef struct {
  uint64_t lo, hi;  // the counter mod 2^128 (docs/reference/fortuna.md, "Generator")
} counter128;

// Byte 0 least significant (docs/reference/fortuna.md, "Counter encoding"): one plain store on
// little-endian hosts, byte-swapped on big-endian ones.
static inline void store_le64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, sizeof v);
}

static void put_blocks(uint8_t *piece, counter128 *c, size_t n) {
  // Locals, not c->: stores through the uint8_t pointer may alias *c, which
  // would make the compiler reload and store the counter on every block.
  uint64_t lo = c->lo, hi = c->hi;
  for (size_t i = 0; i < n; i++) {
    store_le64(piece + i * AES_BLOCK_BYTES, lo);
    store_le64(piece + i * AES_BLOCK_BYTES + 8, hi);
    if (++lo == 0) hi++;
  }
  c->lo = lo;
  c->hi = hi;
}

// ECB over `blocks` counter blocks from *c into out, a piece at a time;
// advances *c past them.
static int encrypt_counters(EVP_CIPHER_CTX *ctx, counter128 *c, uint8_t *out, size_t blocks) {
  uint8_t piece[PIECE_BLOCKS * AES_BLOCK_BYTES];
  while (blocks > 0) {
    size_t n = blocks < PIECE_BLOCKS ? blocks : PIECE_BLOCKS;
    int written = 0;
    put_blocks(piece, c, n);
    if (EVP_EncryptUpdate(ctx, out, &written, piece, (int)(n * AES_BLOCK_BYTES)) != 1 ||
        written != (int)(n * AES_BLOCK_BYTES)) {
      return 0;
    }
    out += n * AES_BLOCK_BYTES;
    blocks -= n;
  }
  return 1;
}

static napi_value type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value range_error(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  if (napi_get_typedarray_info(env, v, &type, length, &p, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = p;
  return 1;
}

static int overlaps(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  return an > 0 && bn > 0 && a < b + bn && b < a + an;
}

// generateBlocks(key: Uint8Array(32), counter: bigint, out: Uint8Array): undefined
//   out = AES-256(K, C) || AES-256(K, C+1) || ... (out.length / 16 blocks), then
//   K = the next two blocks, written into key in place. Checks everything first:
//   on any error it throws and key is untouched.
static napi_value generate_blocks(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) {
    return type_error(env, "generateBlocks(key, counter, out) takes three arguments");
  }
  uint8_t *key, *out;
  size_t key_len, out_len;
  if (!get_bytes(env, argv[0], &key, &key_len) || key_len != AES256_KEY_BYTES) {
    return type_error(env, "generateBlocks: key must be a Uint8Array of 32 bytes");
  }
  napi_valuetype counter_type;
  if (napi_typeof(env, argv[1], &counter_type) != napi_ok || counter_type != napi_bigint) {
    return type_error(env, "generateBlocks: counter must be a bigint");
  }
  // First the number of 64-bit words the value needs, then the words (least
  // significant first) and the sign.
  int sign = 0;
  size_t words = 0;
  uint64_t limbs[2] = {0, 0};
  if (napi_get_value_bigint_words(env, argv[1], NULL, &words, NULL) != napi_ok) {
    return type_error(env, "generateBlocks: counter must be a bigint");
  }
  if (words > 2) return range_error(env, "generateBlocks: counter must be in [0, 2^128)");
  if (napi_get_value_bigint_words(env, argv[1], &sign, &words, limbs) != napi_ok) {
    return type_error(env, "generateBlocks: counter must be a bigint");
  }
  if (sign != 0) return range_error(env, "generateBlocks: counter must be in [0, 2^128)");
  if (!get_bytes(env, argv[2], &out, &out_len) || out_len % AES_BLOCK_BYTES != 0 || out_len > INT32_MAX) {
    return range_error(env, "generateBlocks: out must be a Uint8Array of whole 16-byte blocks");
  }
  if (overlaps(out, out_len, key, key_len)) {
    return range_error(env, "generateBlocks: out must not overlap key");
  }

  counter128 c = {limbs[0], limbs[1]};
  uint8_t next_key[REKEY_BLOCKS * AES_BLOCK_BYTES];
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = ctx != NULL &&
           EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL) == 1 &&
           EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
           encrypt_counters(ctx, &c, out, out_len / AES_BLOCK_BYTES) &&
           encrypt_counters(ctx, &c, next_key, REKEY_BLOCKS);
  EVP_CIPHER_CTX_free(ctx);  // also wipes the key schedule
  if (ok) memcpy(key, next_key, sizeof next_key);
  OPENSSL_cleanse(next_key, sizeof next_key);
  if (!ok) napi_throw_error(env, NULL, "generateBlocks: OpenSSL AES-256-ECB failed");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "generateBlocks", NAPI_AUTO_LENGTH, generate_blocks, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "generateBlocks", fn) != napi_ok) {
    return NULL;
  }
  return exports;
}
