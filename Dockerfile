# syntax=docker/dockerfile:1
# One image for both Bulkhead processes. The entry point is node; the command picks the process:
#   webhook:    dist/webhook/main.js     (the default)
#   reconciler: dist/reconciler/main.js  (the chart's reconciler Deployment sets it in args)
# test/unit/dockerfile.test.ts keeps this file in step with package.json, tsconfig.build.json
# and the chart.

# --- build: compile TypeScript (tsc -p tsconfig.build.json) into dist/ -------------------
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
RUN npm run build

# --- runtime: production dependencies and the compiled code only -------------------------
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Not root, and a numeric id so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["node"]
CMD ["dist/webhook/main.js"]
