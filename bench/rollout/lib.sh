# Shared shell for the rollout benchmarks (sourced by bench/rollout/run.sh and scale.sh).
#   bench_compile OUT [REF]   the tree (or git REF) compiled with tsc into OUT (the benchmark's own
#                             code), its webhook/main.js and reconciler/main.js replaced by the
#                             package's bundle as the image runs them (npm run bundle; a REF
#                             without that script keeps tsc's output)
#   bench_cluster NODES DELAY a fresh loopback cluster in $BENCH_DIR with the CRD, the webhook
#                             configurations and ServiceAccount tokens for the reconciler and the
#                             webhook (RECONCILER_KUBECONFIG, WEBHOOK_KUBECONFIG); stopped on exit,
#                             logs kept; the webhook's port in BENCH_WEBHOOK_PORT. BULKHEAD_AUDIT_POLICY (hack/cluster-up.sh) turns on the audit log
#   bench_node_options NAME   NODE_OPTIONS of the chart's NAME (webhook|reconciler) container, the
#                             heap percentage turned into MiB of its memory limit (out of a
#                             container Node would apply it to the machine's memory)
#   bench_peer                builds grafana/rollout-operator (hack/versions.env) into the cache; sets
#                             BENCH_ROLLOUT_OPERATOR, or BENCH_PEER_UNAVAILABLE to why not
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-bench-XXXXXX")
export BENCH_DIR BENCH_LOGS=$BENCH_DIR/logs
mkdir -p "$BENCH_LOGS"

# shellcheck source=../support/node-options.sh
source "$ROOT/bench/support/node-options.sh"

bench_log() { printf '[%s %s] %s\n' "$(basename "$0" .sh)" "$(date -u +%H:%M:%S)" "$*" >&2; }

bench_cleanup() {
  hack/cluster-down.sh --dir "$BENCH_DIR" >/dev/null 2>&1 || true
  rm -rf "$BENCH_DIR"/build-* "$BENCH_DIR/etcd"
  bench_log "logs kept in $BENCH_LOGS"
}
trap bench_cleanup EXIT

bench_compile() {
  local out=$1 ref=${2:-} src=$ROOT
  mkdir -p "$out"
  if [[ -n $ref ]]; then
    src=$out.src
    mkdir -p "$src"
    git -C "$ROOT" archive "$ref" | tar -x -C "$src"
    ln -sfn "$ROOT/node_modules" "$src/node_modules"
  fi
  ln -sfn "$ROOT/node_modules" "$out/node_modules"
  echo '{"type":"module"}' >"$out/package.json"
  # Type errors elsewhere in the tree do not stop the emit; what runs is checked below.
  (cd "$src" && "$ROOT/node_modules/.bin/tsc" -p tsconfig.json --noEmit false --outDir "$out" --sourceMap false >/dev/null) || true
  local f bundle
  for f in webhook/main.js reconciler/main.js; do
    [[ -f $out/$f ]] || { bench_log "tsc did not emit $f for ${ref:-the working tree}"; return 1; }
  done
  bundle=$(cd "$src" && node -p 'require("./package.json").scripts?.bundle ?? ""')
  if [[ -z $bundle ]]; then
    bench_log "${ref:-the working tree} has no bundle script: its processes run tsc's output"
    return 0
  fi
  (cd "$src" && rm -rf dist/bundle && eval "$bundle") || { bench_log "npm run bundle failed for ${ref:-the working tree}"; return 1; }
  for f in webhook/main.js reconciler/main.js; do cp "$src/dist/bundle/$f" "$out/$f"; done
}

bench_cluster() {
  local nodes=$1 delay=$2
  # KWOK's default 4 pod-stage workers each wait for one pod's DELETE or status PATCH at a time,
  # so a slower apiserver answer slows every replacement; a cluster's kubelets act in parallel
  # (bench/RESULTS.md, "Rollout side by side", session 6 run 4). Both contenders get the same.
  local workers=${BULKHEAD_KWOK_POD_WORKERS:-16}
  bench_log "cluster: $nodes KWOK nodes ($workers pod-stage workers), pods Ready ${delay}s after start ($BENCH_DIR)"
  BULKHEAD_AUDIT_POLICY=${BULKHEAD_AUDIT_POLICY:-} BULKHEAD_KWOK_POD_WORKERS=$workers BULKHEAD_KWOK_POD_READY_DELAY=${delay}s \
    hack/cluster-up.sh --dir "$BENCH_DIR" --nodes "$nodes" >/dev/null
  # shellcheck disable=SC1091
  source "$BENCH_DIR/env"
  export PATH="$ROOT/node_modules/.bin:$PATH"
  kubectl apply --server-side --force-conflicts -f charts/bulkhead/crds/ >/dev/null
  kubectl wait --for=condition=Established crd/statefulsetrollouts.bulkhead.dev --timeout=30s >/dev/null
  for _ in $(seq 1 50); do kubectl get statefulsetrollouts -A >/dev/null 2>&1 && break; sleep 0.2; done
  kubectl create namespace bulkhead-system >/dev/null
  # The webhook (started per run by the benchmark, always on this port) injects its CA into these
  # when it starts.
  BENCH_WEBHOOK_PORT=$(hack/free-ports.sh 1)
  export BENCH_WEBHOOK_PORT
  helm template bulkhead charts/bulkhead --namespace bulkhead-system --set "webhook.url=https://127.0.0.1:$BENCH_WEBHOOK_PORT" \
    --show-only templates/webhook-configurations.yaml | kubectl apply -f - >/dev/null
  # The webhook tells the reconciler by its ServiceAccount; the webhook has its own, so the
  # apiserver's audit log tells the two and the benchmark's driver (admin) apart. Both are
  # cluster-admin here: loopback only.
  RECONCILER_KUBECONFIG=$(bench_sa_kubeconfig bulkhead-reconciler)
  WEBHOOK_KUBECONFIG=$(bench_sa_kubeconfig bulkhead-webhook)
  export RECONCILER_KUBECONFIG WEBHOOK_KUBECONFIG
}

# bench_sa_kubeconfig NAME: a kubeconfig for bulkhead-system/NAME (cluster-admin); prints its path.
bench_sa_kubeconfig() {
  local sa=$1 token file=$BENCH_DIR/$1.kubeconfig
  kubectl -n bulkhead-system create serviceaccount "$sa" >/dev/null
  kubectl create clusterrolebinding "bench-$sa" --clusterrole=cluster-admin --serviceaccount="bulkhead-system:$sa" >/dev/null
  token=$(kubectl -n bulkhead-system create token "$sa" --duration=6h)
  kubectl config --kubeconfig="$file" set-cluster bench --server="$BULKHEAD_APISERVER" \
    --certificate-authority="$BULKHEAD_CA_CERT" --embed-certs >/dev/null
  kubectl config --kubeconfig="$file" set-credentials "$sa" --token="$token" >/dev/null
  kubectl config --kubeconfig="$file" set-context bench --cluster=bench --user="$sa" >/dev/null
  kubectl config --kubeconfig="$file" use-context bench >/dev/null
  echo "$file"
}

bench_peer() {
  # shellcheck source=../../hack/versions.env
  source hack/versions.env
  local log=$BENCH_LOGS/build-rollout-operator.log
  if hack/build-control-plane.sh rollout-operator >/dev/null 2>"$log"; then
    BENCH_ROLLOUT_OPERATOR=${BULKHEAD_CACHE:-$HOME/.cache/bulkhead}/bin/rollout-operator-$ROLLOUT_OPERATOR_VERSION/rollout-operator
    export BENCH_ROLLOUT_OPERATOR
    bench_log "peer: grafana/rollout-operator $ROLLOUT_OPERATOR_VERSION ($BENCH_ROLLOUT_OPERATOR)"
  else
    BENCH_PEER_UNAVAILABLE="grafana/rollout-operator $ROLLOUT_OPERATOR_VERSION could not be built: $(grep ERROR "$log" | tail -n1 | sed 's/.*ERROR: //')"
    export BENCH_PEER_UNAVAILABLE
    bench_log "peer: $BENCH_PEER_UNAVAILABLE"
  fi
}
