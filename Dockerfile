# One image for all three services; the compose file picks the service with
# SERVICE (controller, fortuna, gateway, or all: the three in one process).
#
# Stages, slowest and least often changed first, so a source edit rebuilds
# only the last, cheap layers:
#   addons   npm packages and their native addons: rocksdb compiles ~520 C++
#            files wherever no prebuilt binary fits (every arm64 board: its
#            package ships linux-x64 prebuilds only; docs/raspberry-pi.md has
#            the cost). This layer depends on package*.json alone.
#   build    LoKey's own addons (fortuna/native, runtime/native) and the
#            services compiled to plain JavaScript (scripts/build.ts).
#   runtime  no compiler: node, the compiled tree, openssl.
#
# The RUN --mount cache lines need BuildKit (the default builder of Docker 23+
# and `docker compose` v2; with docker-compose v1 set DOCKER_BUILDKIT=1 and
# COMPOSE_DOCKER_CLI_BUILD=1). They keep npm's download cache and ccache's
# object cache across builds, so a lock-file change that leaves rocksdb's
# version alone does not compile it again.
FROM node:20-bookworm-slim AS addons
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ ccache \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts skips the root package's own install script (LoKey's addons,
# built in the next stage from their sources); the two packages with native code
# are then built here. Their build trees (object files, rocksdb's C++ sources)
# are dropped in the same layer: only the .node binaries are kept.
RUN --mount=type=cache,target=/root/.npm \
    --mount=type=cache,target=/root/.cache/ccache \
    npm ci --omit=dev --ignore-scripts \
    && CC="ccache gcc" CXX="ccache g++" npm rebuild rocksdb i2c-bus \
    && rm -rf node_modules/rocksdb/deps node_modules/rocksdb/build/Release/obj.target \
              node_modules/rocksdb/build/Release/.deps node_modules/i2c-bus/build/Release/obj.target

FROM addons AS build
COPY fortuna/native ./fortuna/native
COPY runtime/native ./runtime/native
RUN npm run build:native && rm -rf fortuna/native/build/Release/obj.target runtime/native/build/Release/obj.target
COPY gen ./gen
COPY runtime/src ./runtime/src
COPY controller/src ./controller/src
COPY fortuna/src ./fortuna/src
COPY gateway/src ./gateway/src
COPY tsconfig.json ./
COPY scripts/build.ts scripts/one-process.ts scripts/stack.ts scripts/certs.ts ./scripts/
# The compiled tree at a fixed path; its fortuna/native and runtime/native links
# point at ../../fortuna/native and ../../runtime/native.
RUN npx tsx scripts/build.ts --out dist/app

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# The memory settings npm start gives each service (scripts/start.ts, measured
# in docs/performance.md, "Footprint"): glibc's per-thread malloc arenas and its
# sliding mmap threshold keep freed native buffers resident; the V8 flags are
# in CMD (node takes --optimize-for-size only on its command line).
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
RUN apt-get update && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/fortuna/native/build/Release/fortuna_native.node ./fortuna/native/build/Release/
COPY --from=build /app/runtime/native/build/Release/heap_trim.node ./runtime/native/build/Release/
COPY --from=build /app/dist/app ./dist/app
COPY scripts/healthcheck.mjs ./scripts/healthcheck.mjs
# The TypeScript sources stay (a few hundred KB) for debugging with tsx; the
# image's CMD, the compose file and the Kubernetes manifests run the compiled tree.
COPY --from=build /app/package.json /app/tsconfig.json ./
COPY --from=build /app/gen ./gen
COPY --from=build /app/runtime/src ./runtime/src
COPY --from=build /app/controller/src ./controller/src
COPY --from=build /app/fortuna/src ./fortuna/src
COPY --from=build /app/gateway/src ./gateway/src
# The gateway's database volume mounts here; a fresh named volume takes this ownership.
# The same holds for the certificates volume the `certs` service fills.
RUN mkdir -p /data /certs && chown node:node /data /certs
# Runs as the unprivileged node user; the controller gets the i2c device's
# group through the compose file (group_add).
USER node
ENV SERVICE=gateway
# gRPC health of the service on its own port (scripts/healthcheck.mjs): a
# gateway turns unhealthy when its database or every upstream is gone, Fortuna
# while unseeded, the controller while its entropy tests fail.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
CMD ["sh", "-c", "if [ \"$SERVICE\" = all ]; then main=scripts/one-process.js; else main=$SERVICE/src/main.bundle.js; fi; exec node --max-semi-space-size=1 --optimize-for-size \"dist/app/$main\""]
