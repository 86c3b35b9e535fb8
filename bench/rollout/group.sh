#!/usr/bin/env bash
# Zone-aware rollout group benchmark (see bench/rollout/group.ts): three StatefulSets of PODS pods,
# one per zone, one rollout group, PDB budget 10 % each, pods Ready DELAY seconds after start;
# wall time of a template change to all three against the ideal, per-zone start and end, and the
# 200 ms sampled check that never two zones are degraded at once.
# Usage: bench/rollout/group.sh [PODS (default 100)] [DELAY_SECONDS (default 2)]
#   BENCH_TIMEOUT   bound for the rollout, seconds (default 600)
#   BENCH_OUT       JSON results with every sample (default $BENCH_DIR/group.json, removed with it)
#   BENCH_LOCK      a lock file (e.g. /tmp/bulkhead-e2e.lock) taken after compiling, before the
#                   cluster starts, so the compile does not hold a shared machine's cluster lock
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PODS=${1:-100}
DELAY=${2:-2}

label="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo +changes)"
bench_log "compiling the working tree ($label)"
bench_compile "$BENCH_DIR/build-tree"
if [[ -n ${BENCH_LOCK:-} ]]; then
  exec {lock_fd}>"$BENCH_LOCK"
  bench_log "waiting for $BENCH_LOCK"
  flock "$lock_fd"
fi

# Two KWOK nodes per zone (110 pods each): room for a zone's pods and their replacements.
bench_cluster 6 "$DELAY"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); node $(node --version)"
echo "date: $(date -u +%FT%TZ)"
echo "command: bench/rollout/group.sh $PODS $DELAY (Bulkhead $label)"
node "$BENCH_DIR/build-tree/bench/rollout/group.js" --pods "$PODS" --delay-seconds "$DELAY" \
  --build "$label=$BENCH_DIR/build-tree" --timeout-seconds "${BENCH_TIMEOUT:-600}" \
  --out "${BENCH_OUT:-$BENCH_DIR/group.json}"
