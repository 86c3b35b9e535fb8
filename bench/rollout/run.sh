#!/usr/bin/env bash
# Rollout benchmark, side by side in one run on one cluster (see bench/rollout/run.ts):
# Bulkhead (the working tree, and each git ref in BENCH_BULKHEAD_REFS), native RollingUpdate
# (maxUnavailable 10% and one at a time, bounded) and grafana/rollout-operator (default and
# fastest flags), at each size.
# Usage: bench/rollout/run.sh [PODS (default 100,1000)] [READY_DELAY_SECONDS (default 2)] [METHODS]
#   METHODS default bulkhead,native-10,native-1,peer-default,peer-fastest
#   BENCH_BULKHEAD_REFS     e.g. main: also measure that commit's Bulkhead, side by side
#   BENCH_TIMEOUT           bound for Bulkhead and the peer, seconds (default 900)
#   BENCH_NATIVE_TIMEOUT    bound for native RollingUpdate, seconds (default 300)
#   BENCH_ROLLOUT_ROUNDS    runs of every contender at each size, interleaved round by round
#                           (default 1, at most 10); above 1, medians and ranges follow each size
#   BENCH_LOG_LEVEL         Bulkhead's log level (default warn; info logs every take-down)
#   BENCH_PROFILE_DIR       opt-in: Bulkhead's processes run with --cpu-prof into DIR (contenders.ts)
#   BENCH_OUT               JSON results (default $BENCH_DIR/rollout.json, removed with it)
# On a shared machine: flock /tmp/bulkhead-e2e.lock bench/rollout/run.sh ...
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PODS=${1:-100,1000}
DELAY=${2:-2}
METHODS=${3:-bulkhead,native-10,native-1,peer-default,peer-fastest}

builds=()
work_label="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo +changes)"
bench_log "compiling the working tree ($work_label)"
bench_compile "$BENCH_DIR/build-tree"
builds+=("$work_label=$BENCH_DIR/build-tree")
IFS=',' read -r -a refs <<<"${BENCH_BULKHEAD_REFS:-}"
for ref in "${refs[@]}"; do
  [[ -n $ref ]] || continue
  label="$ref $(git rev-parse --short "$ref")"
  bench_log "compiling $label"
  bench_compile "$BENCH_DIR/build-$(echo "$ref" | tr -c 'a-zA-Z0-9\n' '-')" "$ref"
  builds+=("$label=$BENCH_DIR/build-$(echo "$ref" | tr -c 'a-zA-Z0-9\n' '-')")
done
[[ $METHODS == *peer-* ]] && bench_peer
# Bulkhead runs with the chart's heap flags (bench/rollout/lib.sh).
BENCH_WEBHOOK_NODE_OPTIONS=$(bench_node_options webhook)
BENCH_RECONCILER_NODE_OPTIONS=$(bench_node_options reconciler)
export BENCH_WEBHOOK_NODE_OPTIONS BENCH_RECONCILER_NODE_OPTIONS

# 1,000 pods need 10 KWOK nodes at 110 pods each; 12 leave room.
bench_cluster 12 "$DELAY"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); node $(node --version)"
echo "date: $(date -u +%FT%TZ)"
echo "command: ${BENCH_BULKHEAD_REFS:+BENCH_BULKHEAD_REFS=$BENCH_BULKHEAD_REFS }${BENCH_ROLLOUT_ROUNDS:+BENCH_ROLLOUT_ROUNDS=$BENCH_ROLLOUT_ROUNDS }bench/rollout/run.sh $PODS $DELAY $METHODS"
echo "node options: webhook $BENCH_WEBHOOK_NODE_OPTIONS; reconciler $BENCH_RECONCILER_NODE_OPTIONS (the chart's)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=','
node "$BENCH_DIR/build-tree/bench/rollout/run.js" --pods "$PODS" --delay-seconds "$DELAY" --methods "$METHODS" \
  --bulkhead-builds "${builds[*]}" --timeout-seconds "${BENCH_TIMEOUT:-900}" \
  --native-timeout-seconds "${BENCH_NATIVE_TIMEOUT:-300}" --rounds "${BENCH_ROLLOUT_ROUNDS:-1}" \
  --out "${BENCH_OUT:-$BENCH_DIR/rollout.json}"
