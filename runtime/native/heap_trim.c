// Gives the pages of freed malloc memory back to the system: glibc's
// malloc_trim(3). Node exposes nothing like it, and a service needs it.
//
// Why: a Buffer's bytes are malloc'd outside V8's heap and freed when V8
// collects the Buffer. LoKey's streams move 64 KiB messages, each copied a few
// times, below glibc's mmap threshold (docs/performance.md, "Footprint"), so
// they come from the heap; once freed among longer-lived small blocks, their
// pages stay resident, because free() only returns the heap's top. malloc_trim
// also releases whole free pages inside the heap and every arena (madvise
// MADV_DONTNEED, glibc 2.8 and later), which free() never does.
//
// Other C libraries (musl) have no malloc_trim; there trim() is a no-op that
// says so.
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>  // defines __GLIBC__ on glibc
#if defined(__GLIBC__)
#include <malloc.h>
#define HAVE_MALLOC_TRIM 1
#else
#define HAVE_MALLOC_TRIM 0
#endif

// trim(): true if memory went back to the system.
static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#if HAVE_MALLOC_TRIM
  // 0: keep no padding at the heap's top; the next allocation faults pages
  // back in, which costs less than holding them (measured in the doc above).
  released = malloc_trim(0) != 0;
#endif
  napi_value out;
  if (napi_get_boolean(env, released, &out) != napi_ok) return NULL;
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, supported;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  if (napi_get_boolean(env, HAVE_MALLOC_TRIM, &supported) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "supported", supported) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
