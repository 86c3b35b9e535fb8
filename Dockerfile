# syntax=docker/dockerfile:1
# One image for both Bulkhead processes. The entry point is node; the command picks the process:
#   webhook:    dist/webhook/main.js     (the default)
#   reconciler: dist/reconciler/main.js  (the chart's reconciler Deployment sets it in args)
# Each is one minified ESM bundle (npm run bundle: the process and its dependencies, nothing it
# does not import), so the image needs no node_modules and each process loads, parses and keeps
# only its own code: 18–22 MiB less idle RSS per process than tsc's output with node_modules
# (bench/RESULTS.md, issue #15 item 3).
# test/unit/dockerfile.test.ts keeps this file in step with package.json, tsconfig.build.json
# and the chart.

# --- build: type-check and compile (tsc -p tsconfig.build.json), then bundle -------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# The folders tsconfig.build.json compiles, and nothing else (no tests, benchmarks or chart).
COPY api ./api
COPY adapters ./adapters
COPY certs ./certs
COPY webhook ./webhook
COPY reconciler ./reconciler
COPY cli ./cli
# tsc fails the build on a type error; the bundle (esbuild, which does not type-check) is what runs.
RUN npm run build
RUN npm run bundle

# --- runtime: the two bundles only ---------------------------------------------------------
FROM node:24-slim
ENV NODE_ENV=production
# glibc malloc: two arenas instead of one per thread (up to 16 on 2 cores), and free memory at
# the top of the heap returned to the kernel above 128 KiB instead of a threshold that grows
# to 64 MiB. Blocks of 32 KiB and more (V8's parser and compiler zones) are mapped on their own
# and unmapped when freed: left in the arena, the bundle's parse alone strands ~21 MiB there.
# bench/support/node-options.sh exports these for the benchmarks.
ENV MALLOC_ARENA_MAX=2
ENV MALLOC_TRIM_THRESHOLD_=131072
ENV MALLOC_MMAP_THRESHOLD_=32768
WORKDIR /app
# package.json for "type": "module" (the bundles are ESM); no dependencies are installed.
COPY package.json ./
COPY --from=build /app/dist/bundle ./dist
# Not root, and a numeric id so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["node"]
CMD ["dist/webhook/main.js"]
