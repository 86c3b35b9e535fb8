#!/usr/bin/env bash
# Rollout benchmark: Bulkhead vs native RollingUpdate (see bench/rollout/run.ts).
# Usage: bench/rollout/run.sh [PODS (default 100,1000)] [READY_DELAY_SECONDS (default 2)] [METHODS]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PODS=${1:-100,1000}
DELAY=${2:-2}
METHODS=${3:-bulkhead,native-10,native-1}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-bench-rollout-XXXXXX")
RECONCILER_PID=""
cleanup() {
  if [[ -n $RECONCILER_PID ]]; then kill -TERM -- "-$RECONCILER_PID" 2>/dev/null || true; fi
  hack/cluster-down.sh --dir "$DIR" --purge >/dev/null 2>&1 || true
}
trap cleanup EXIT
# 1,000 pods need 10 KWOK nodes at 110 pods each; 12 leave room for the native runs' surge.
BULKHEAD_KWOK_POD_READY_DELAY=${DELAY}s hack/cluster-up.sh --dir "$DIR" --nodes 12 >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
export PATH="$ROOT/node_modules/.bin:$PATH"
kubectl apply --server-side --force-conflicts -f charts/bulkhead/crds/ >/dev/null
kubectl wait --for=condition=Established crd/statefulsetrollouts.bulkhead.dev --timeout=30s >/dev/null
for _ in $(seq 1 50); do kubectl get statefulsetrollouts -A >/dev/null 2>&1 && break; sleep 0.2; done
kubectl create namespace bulkhead-system >/dev/null
BULKHEAD_METRICS_PORT=0 LOG_LEVEL=warn setsid node_modules/.bin/tsx reconciler/main.ts >"$DIR/logs/reconciler.log" 2>&1 &
RECONCILER_PID=$!
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(date -u +%FT%TZ); pods $PODS; KWOK ready delay ${DELAY}s" >&2
tsx bench/rollout/run.ts --pods "$PODS" --delay-seconds "$DELAY" --methods "$METHODS"
