# syntax=docker/dockerfile:1
# One image for every F2 service; the command picks the service:
#   docker run f2-pipeline connector | processor | sink | simulator | health | migrate all | registry …
# Stages: `build` compiles TypeScript to dist/, `deps` installs production dependencies only,
# `runtime` holds the two plus the SQL migrations, runs as the unprivileged `node` user (uid 1000) under tini.

# Keep in step with the `node` devDependency in package.json (the Node the native stack runs).
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: the only one belongs to the `node` devDependency, which fetches a second
# Node binary the image already has.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY deploy/copy-assets.mjs ./deploy/
COPY src ./src
RUN npm run build && node deploy/copy-assets.mjs src dist

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# tini as PID 1 forwards SIGTERM/SIGINT to Node (which drains and stops within its deadline)
# and reaps orphaned processes.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 'openssl=3.0.*' \
  && rm -rf /var/lib/apt/lists/*
# Services bind every interface of the container; the native default (127.0.0.1) would be
# unreachable from Prometheus and the health monitor. Compose publishes ports on the host's
# 127.0.0.1 only (docs/operations/deployment-security.md).
# Memory bounds of the stages (docs/architecture/processor.md, "Memory"; the same as the native
# supervisor's, src/stack/services.ts): 8 MB semi-spaces, two malloc arenas, large blocks mmapped.
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    HEALTH_HOST=0.0.0.0 \
    NODE_OPTIONS=--max-semi-space-size=8 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=65536 \
    MALLOC_TRIM_THRESHOLD_=1048576
WORKDIR /app
# Files stay owned by root: the service user can read the code but not change it.
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY sql ./sql
# The read API serves its OpenAPI document from here (src/stages/api/service.ts).
COPY docs/api/openapi.json ./docs/api/
COPY deploy/healthcheck.mjs ./deploy/
# The base image's `node` user, by number so that runAsNonRoot-style checks can verify it.
USER 1000:1000
EXPOSE 8000 8080 9401 9402 9403 9404
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "deploy/healthcheck.mjs", "healthz"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]
CMD ["--help"]
