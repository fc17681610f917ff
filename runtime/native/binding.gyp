# Built by `npm install` through the root package's install script
# (`npm run build:native`: node-gyp, against Node's own headers), beside
# Fortuna's addon. No libraries are linked: malloc_trim is the C library's.
{
  "targets": [
    {
      "target_name": "heap_trim",
      "sources": ["heap_trim.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
