# One image for all three services; the compose file picks the service with
# SERVICE. Native addons (rocksdb, i2c-bus, Fortuna's fortuna/native) build in
# the first stage so the runtime image carries no compiler.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Fortuna's native code, built by the root install script that npm ci runs.
COPY fortuna/native ./fortuna/native
RUN npm ci --omit=dev
COPY tsconfig.json ./
COPY gen ./gen
COPY runtime ./runtime
COPY controller/src ./controller/src
COPY fortuna/src ./fortuna/src
COPY gateway/src ./gateway/src
# The compose file's one-shot `certs` service runs this (with the openssl CLI below).
COPY scripts/certs.ts ./scripts/certs.ts
COPY scripts/healthcheck.mjs ./scripts/healthcheck.mjs

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN apt-get update && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
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
CMD ["sh", "-c", "exec node --import tsx ${SERVICE}/src/main.ts"]
