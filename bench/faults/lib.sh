# Shared shell for the fault scenarios (sourced by bench/faults/*.sh; not a scenario itself).
# faults_cluster NODES [READY_DELAY]: a fresh loopback cluster in $FAULTS_DIR with the CRD and
# the bulkhead-system namespace; stopped (with every process this script started) on exit.
# faults_webhook PORT: the webhook on 127.0.0.1:PORT, configurations applied, CA injected.
# faults_build_reconciler: compiles the shipped folders (tsconfig.build.json) and sets
# FAULTS_RECONCILER_JS, so the scenarios start the reconciler as the image does (node on
# compiled JS): under tsx a start took 6-9 s on a loaded 2-core machine, most of it transforming
# TypeScript, and a kill scenario then measured tsx instead of the reconciler.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
FAULTS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-faults-XXXXXX")
export FAULTS_DIR FAULTS_LOG_DIR=$FAULTS_DIR/logs
mkdir -p "$FAULTS_DIR/logs"
FAULTS_PIDS=()

faults_log() { printf '[%s %s] %s\n' "$(basename "$0" .sh)" "$(date -u +%H:%M:%S)" "$*" >&2; }

faults_cleanup() {
  local pid
  for pid in "${FAULTS_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  hack/cluster-down.sh --dir "$FAULTS_DIR" >/dev/null 2>&1 || true
  faults_log "logs kept in $FAULTS_DIR/logs"
}
trap faults_cleanup EXIT

faults_cluster() {
  local nodes=$1 delay=${2:-1s}
  faults_log "cluster: $nodes KWOK nodes, pod ready delay $delay ($FAULTS_DIR)"
  BULKHEAD_KWOK_POD_READY_DELAY=$delay hack/cluster-up.sh --dir "$FAULTS_DIR" --nodes "$nodes" >/dev/null
  # shellcheck disable=SC1091
  source "$FAULTS_DIR/env"
  export PATH="$ROOT/node_modules/.bin:$PATH"
  kubectl apply --server-side --force-conflicts -f charts/bulkhead/crds/ >/dev/null
  kubectl wait --for=condition=Established crd/statefulsetrollouts.bulkhead.dev --timeout=30s >/dev/null
  for _ in $(seq 1 50); do kubectl get statefulsetrollouts -A >/dev/null 2>&1 && break; sleep 0.2; done
  kubectl create namespace bulkhead-system >/dev/null
}

faults_build_reconciler() {
  local build=$FAULTS_DIR/build
  mkdir -p "$build"
  ln -sfn "$ROOT/node_modules" "$build/node_modules"
  tsc -p tsconfig.build.json --outDir "$build" >/dev/null || true
  test -f "$build/reconciler/main.js" || { faults_log "tsc did not emit reconciler/main.js"; return 1; }
  FAULTS_RECONCILER_JS=$build/reconciler/main.js
  export FAULTS_RECONCILER_JS
}

# Starts the webhook as the demo does (hack/demo.sh); prints nothing, sets WEBHOOK_URL.
faults_webhook() {
  local port=$1
  helm template bulkhead charts/bulkhead --namespace bulkhead-system --set "webhook.url=https://127.0.0.1:$port" \
    --show-only templates/webhook-configurations.yaml | kubectl apply -f - >/dev/null
  BULKHEAD_NAMESPACE=bulkhead-system BULKHEAD_WEBHOOK_PORT=$port BULKHEAD_WEBHOOK_HOST=127.0.0.1 \
    setsid node_modules/.bin/tsx webhook/main.ts >"$FAULTS_DIR/logs/webhook.log" 2>&1 &
  FAULTS_PIDS+=($!)
  WEBHOOK_URL=https://127.0.0.1:$port
  export WEBHOOK_URL
  for _ in $(seq 1 150); do curl -skf "$WEBHOOK_URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -skf "$WEBHOOK_URL/readyz" >/dev/null || { faults_log "the webhook did not become ready; see $FAULTS_DIR/logs/webhook.log"; return 1; }
  for _ in $(seq 1 150); do
    [[ -n $(kubectl get mutatingwebhookconfiguration bulkhead -o jsonpath='{.webhooks[0].clientConfig.caBundle}') ]] && return 0
    sleep 0.2
  done
  faults_log "the webhook did not inject its CA"
  return 1
}

# The webhook tells the reconciler by its ServiceAccount, so the reconciler runs on a token of
# bulkhead-system/bulkhead-reconciler (cluster-admin, as in hack/demo.sh: loopback test only).
# Sets RECONCILER_KUBECONFIG.
faults_reconciler_kubeconfig() {
  kubectl -n bulkhead-system create serviceaccount bulkhead-reconciler >/dev/null
  kubectl create clusterrolebinding bulkhead-faults-reconciler --clusterrole=cluster-admin --serviceaccount=bulkhead-system:bulkhead-reconciler >/dev/null
  local token
  token=$(kubectl -n bulkhead-system create token bulkhead-reconciler --duration=2h)
  RECONCILER_KUBECONFIG=$FAULTS_DIR/reconciler.kubeconfig
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" set-cluster faults --server="$BULKHEAD_APISERVER" --certificate-authority="$BULKHEAD_CA_CERT" --embed-certs >/dev/null
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" set-credentials reconciler --token="$token" >/dev/null
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" set-context faults --cluster=faults --user=reconciler >/dev/null
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" use-context faults >/dev/null
  export RECONCILER_KUBECONFIG
}
