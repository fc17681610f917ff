# Built by `npm install` through the root package's install script
# (`npm run build:native`: node-gyp, against Node's own headers), like i2c-bus.
# No libraries are linked: the OpenSSL symbols come from the node binary
# that loads the addon, so the AES is the same code node:crypto runs.
{
  "targets": [
    {
      "target_name": "fortuna_native",
      "sources": ["generate_blocks.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
