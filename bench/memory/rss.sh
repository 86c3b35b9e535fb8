#!/usr/bin/env bash
# Peak RSS of the reconciler and the webhook as production runs them (compiled JavaScript, the
# chart's heap flags: bench/support/node-options.sh) while a StatefulSet of PODS pods (default 1,000) is created by a rollout and
# then rolled to a new image, on a fresh local control plane.
#
# Usage: bench/memory/rss.sh BUILD [BUILD...]
#   BUILD: a directory with dist/ (npm run build), package.json and node_modules, e.g. the
#   checkout itself, or `git archive <commit>` unpacked elsewhere for a before/after comparison.
#   Its dist/bundle/ (npm run bundle, what the image runs) is started when it has one.
#   Each build runs in turn on the same cluster, against its own namespace (deleted after).
# The webhook runs out of cluster on a self-signed certificate and is not registered with the
# apiserver: what is measured is its caches and its idle server, not admission traffic.
# Prints one line per process: peak RSS (VmHWM), RSS at the end, CPU seconds, load average.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PODS=${PODS:-1000}
(($#)) || { echo "usage: $0 BUILD [BUILD...]" >&2; exit 2; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-bench-memory-XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  hack/cluster-down.sh --dir "$DIR" --purge >/dev/null 2>&1 || true
}
trap cleanup EXIT
BULKHEAD_KWOK_POD_READY_DELAY=2s hack/cluster-up.sh --dir "$DIR" --nodes 12 >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
export PATH="$ROOT/node_modules/.bin:$PATH" # Node 24, as in the image
# shellcheck source=../support/node-options.sh
source "$ROOT/bench/support/node-options.sh"
RECONCILER_NODE_OPTIONS=$(bench_node_options reconciler)
WEBHOOK_NODE_OPTIONS=$(bench_node_options webhook)
echo "node options: reconciler $RECONCILER_NODE_OPTIONS; webhook $WEBHOOK_NODE_OPTIONS (the chart's)" >&2
kubectl apply --server-side --force-conflicts -f charts/bulkhead/crds/ >/dev/null
kubectl wait --for=condition=Established crd/statefulsetrollouts.bulkhead.dev --timeout=30s >/dev/null
mkdir -p "$DIR/certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bulkhead-webhook \
  -keyout "$DIR/certs/tls.key" -out "$DIR/certs/tls.crt" 2>/dev/null

rollout() { # NAMESPACE IMAGE
  cat <<YAML
apiVersion: bulkhead.dev/v1alpha1
kind: StatefulsetRollout
metadata: { name: mem, namespace: $1 }
spec:
  percent: 100
  progressDeadlineSeconds: 3600
  disruptionPolicy: { maxUnavailable: "10%" }
  statefulset:
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: { name: mem }
    spec:
      replicas: $PODS
      serviceName: mem
      podManagementPolicy: Parallel
      selector: { matchLabels: { app: mem } }
      template:
        metadata: { labels: { app: mem } }
        spec: { containers: [{ name: app, image: "$2" }] }
YAML
}
done_on() { # NAMESPACE: RolloutDone for the current generation with every pod updated
  local out
  out=$(kubectl get sroll mem -n "$1" -o jsonpath='{.metadata.generation} {.status.observedGeneration} {.status.phase} {.status.updatedReplicas}' 2>/dev/null || true)
  read -r gen observed phase updated <<<"$out"
  [[ ${phase:-} == RolloutDone && ${gen:-x} == "${observed:-y}" && ${updated:-0} == "$PODS" ]]
}
wait_done() {
  local deadline=$((SECONDS + 1800))
  until done_on "$1"; do
    ((SECONDS < deadline)) || { echo "timed out waiting for $1" >&2; exit 1; }
    sleep 2
  done
}
report() { # NAME PID BUILD
  local hwm rss ticks
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$2/status")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$2/status")
  ticks=$(awk '{print $14 + $15}' "/proc/$2/stat")
  printf '%s\t%s\tpeak RSS %d MiB\tRSS now %d MiB\tCPU %.1f s\tload %s\n' "$3" "$1" $((hwm / 1024)) $((rss / 1024)) \
    "$(echo "$ticks / $(getconf CLK_TCK)" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

for build in "$@"; do
  build=$(cd "$build" && pwd)
  dist=$build/dist
  [[ -f $dist/bundle/webhook/main.js ]] && dist=$dist/bundle
  ns=mem-$RANDOM
  kubectl create namespace "$ns" >/dev/null
  echo "$(date -u +%FT%TZ) $build: load $(cut -d' ' -f1-3 /proc/loadavg) at start, $PODS pods" >&2
  NODE_OPTIONS=$RECONCILER_NODE_OPTIONS BULKHEAD_DISABLE_LEADER_ELECTION=true BULKHEAD_METRICS_PORT=0 LOG_LEVEL=warn \
    node "$dist/reconciler/main.js" >"$DIR/logs/reconciler-$ns.log" 2>&1 &
  reconciler=$!
  NODE_OPTIONS=$WEBHOOK_NODE_OPTIONS BULKHEAD_CERT_DIR=$DIR/certs BULKHEAD_WEBHOOK_PORT=$(hack/free-ports.sh) LOG_LEVEL=warn \
    node "$dist/webhook/main.js" >"$DIR/logs/webhook-$ns.log" 2>&1 &
  webhook=$!
  PIDS=("$reconciler" "$webhook")
  rollout "$ns" registry.example/mem:v1 | kubectl apply -f - >/dev/null
  wait_done "$ns"
  echo "$(date -u +%T) created $PODS pods; rolling" >&2
  rollout "$ns" registry.example/mem:v2 | kubectl apply -f - >/dev/null
  wait_done "$ns"
  report reconciler "$reconciler" "$build"
  report webhook "$webhook" "$build"
  kill -TERM "$reconciler" "$webhook"
  wait "$reconciler" "$webhook" 2>/dev/null || true
  PIDS=()
  kubectl delete namespace "$ns" --wait=true --timeout=900s >/dev/null
done
