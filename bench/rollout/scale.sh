#!/usr/bin/env bash
# `make bench-scale`: R rollouts × P pods rolled at once by one Bulkhead (see bench/rollout/scale.ts).
# Usage: bench/rollout/scale.sh [ROLLOUTS (default 50)] [PODS EACH (default 200)] [READY_DELAY_SECONDS (default 2)]
#   BENCH_SCALE_TIMEOUT  bound for the roll, seconds (default 1800)
#   BENCH_OUT            JSON results (default $BENCH_DIR/scale.json)
# The apiserver writes an audit log (bench/rollout/audit-policy.yaml) to count requests by client.
# Exits non-zero when a rollout did not finish or pods created ≠ pods replaced (the table says
# INVALID): such a run measured the simulator, not Bulkhead, and must not be published.
# Heavy (10,000 pods on 100 KWOK nodes): on a shared machine run it under the e2e lock:
#   flock /tmp/bulkhead-e2e.lock make bench-scale
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROLLOUTS=${1:-50}
PODS=${2:-200}
DELAY=${3:-2}
nodes=$(((ROLLOUTS * PODS + 99) / 100 + 1)) # 100 pods a node of 110, and one spare
bench_log "compiling the working tree"
bench_compile "$BENCH_DIR/build-tree"
# Bulkhead runs with the chart's heap flags (bench/rollout/lib.sh).
BENCH_WEBHOOK_NODE_OPTIONS=$(bench_node_options webhook)
BENCH_RECONCILER_NODE_OPTIONS=$(bench_node_options reconciler)
export BENCH_WEBHOOK_NODE_OPTIONS BENCH_RECONCILER_NODE_OPTIONS
label="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo +changes)"
BULKHEAD_AUDIT_POLICY=$ROOT/bench/rollout/audit-policy.yaml bench_cluster "$nodes" "$DELAY"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); node $(node --version)"
echo "date: $(date -u +%FT%TZ)"
echo "command: bench/rollout/scale.sh $ROLLOUTS $PODS $DELAY ($nodes KWOK nodes)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Unpatched KWOK deletes pods by name and removes recreated StatefulSet pods under load
# (hack/kwok/README.md, "Deletion by name"): refuse to measure with it.
kwok_version=$("$BULKHEAD_BIN/kwok" --version)
echo "simulator: $kwok_version"
[[ $kwok_version == *-bulkhead.* ]] || { bench_log "ERROR: KWOK without hack/kwok's patches ($kwok_version)"; exit 1; }
node "$BENCH_DIR/build-tree/bench/rollout/scale.js" --rollouts "$ROLLOUTS" --pods "$PODS" --delay-seconds "$DELAY" \
  --build "$label=$BENCH_DIR/build-tree" --timeout-seconds "${BENCH_SCALE_TIMEOUT:-1800}" \
  --out "${BENCH_OUT:-$BENCH_DIR/scale.json}"
