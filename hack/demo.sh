#!/usr/bin/env bash
# make demo: a local control plane (KWOK nodes), the StatefulsetRollout CRD, the webhook and the
# reconciler, then a 30-pod StatefulSet rolled to a new image at 10%, then 50% (paused half-way,
# resumed), then 100%, then three StatefulSets, one per zone, rolled as one rollout group (zone by
# zone, never two zones degraded at once), printing progress as it goes. Everything is cleaned up
# at the end.
#
# Usage: hack/demo.sh          run the demo (a demo left running by DEMO_KEEP=1 is stopped first)
#        hack/demo.sh --stop   stop a demo left running by DEMO_KEEP=1
#
# Environment:
#   CLUSTER_DIR   cluster directory (default .cluster)
#   DEMO_KEEP=1   leave the cluster, the webhook and the reconciler running (prints how to stop them)
#   DEMO_READY_DELAY  how long a new pod takes to become Ready (default 2s)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DIR=${CLUSTER_DIR:-$ROOT/.cluster}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# The demo's own processes (name pid per line), so a later run or --stop can find a kept demo.
DEMO_PIDS=$DIR/demo.pids
READY_DELAY=${DEMO_READY_DELAY:-2s}
NS=demo
RECONCILER_PID=""
WEBHOOK_PID=""
WEBHOOK=0

# Bold headings on a terminal only, so a log stays plain text.
if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
note() { printf '    %s\n' "$*"; }

# demo_process PID: PID is still a webhook or reconciler started from this checkout (not a
# reused pid).
demo_process() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$ROOT" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE '(webhook|reconciler)/main\.ts'
}

# Stops a process group started with setsid (tsx and its node child stop together): SIGTERM,
# then SIGKILL after 10 s.
stop_group() {
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# Stops what a demo run with DEMO_KEEP=1 left in $DIR: its webhook, its reconciler and its cluster.
stop_kept_demo() {
  local name pid
  while read -r name pid; do
    if demo_process "$pid"; then
      stop_group "$pid"
      note "stopped the $name (pid $pid)"
    fi
  done <"$DEMO_PIDS"
  hack/cluster-down.sh --dir "$DIR" >/dev/null 2>&1 || true
  rm -f "$DEMO_PIDS"
  note "stopped the cluster in $DIR (logs kept in $DIR/logs)"
}

case ${1:-} in
  "") ;;
  --stop)
    if [[ -f $DEMO_PIDS ]]; then
      say "stopping the demo left running in $DIR"
      stop_kept_demo
    else
      echo "no demo left running in $DIR (nothing recorded in $DEMO_PIDS)"
    fi
    exit 0
    ;;
  -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (usage: hack/demo.sh [--stop])" >&2; exit 2 ;;
esac

if [[ -f $DEMO_PIDS ]]; then
  say "a demo left running by DEMO_KEEP=1 is in $DIR: stopping it first"
  stop_kept_demo
elif hack/cluster-down.sh --dir "$DIR" --check 2>/dev/null; then
  # Not ours to stop: the demo starts from an empty cluster and tears it down at the end.
  echo "a cluster the demo did not start is running in $DIR (make cluster-up?)." >&2
  echo "Stop it with 'make cluster-down', or give the demo its own directory: CLUSTER_DIR=/tmp/bulkhead-demo make demo" >&2
  exit 1
fi

read -r METRICS_PORT WEBHOOK_PORT < <(hack/free-ports.sh 2)

cleanup() {
  local rc=$?
  if [[ ${DEMO_KEEP:-0} == 1 ]]; then
    say "left running: source $DIR/env; webhook pid ${WEBHOOK_PID:-none}, reconciler pid ${RECONCILER_PID:-none} (logs in $DIR/logs)"
    note "stop with: hack/demo.sh --stop (the next make demo also stops it first)"
    exit $rc
  fi
  say "cleaning up"
  if [[ -n $RECONCILER_PID ]]; then stop_group "$RECONCILER_PID"; fi
  if [[ -n $WEBHOOK_PID ]]; then stop_group "$WEBHOOK_PID"; fi
  hack/cluster-down.sh --dir "$DIR" >/dev/null 2>&1 || true
  rm -f "$DEMO_PIDS"
  exit $rc
}
trap cleanup EXIT

say "starting the control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK) in $DIR"
hack/cluster-up.sh --dir "$DIR" >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
# Node 24 from node_modules first (the cluster env puts its binaries first).
export PATH="$ROOT/node_modules/.bin:$PATH"

say "applying the StatefulsetRollout CRD"
kubectl apply --server-side --force-conflicts -f charts/bulkhead/crds/ >/dev/null
kubectl wait --for=condition=Established crd/statefulsetrollouts.bulkhead.dev --timeout=30s >/dev/null
# Established is not yet listable ("storage is (re)initializing"): wait until it is.
for _ in $(seq 1 50); do kubectl get statefulsetrollouts -A >/dev/null 2>&1 && break; sleep 0.2; done
kubectl create namespace bulkhead-system >/dev/null
kubectl create namespace "$NS" >/dev/null
kubectl label namespace "$NS" bulkhead.dev/enabled=true >/dev/null

# The webhook (when webhook/main.ts exists) runs on this host: it creates its certificate
# Secret and injects the CA into the chart's webhook configurations, rendered with
# webhook.url. It recognises the reconciler by its ServiceAccount, so the reconciler runs
# on a token of bulkhead-system/bulkhead-reconciler (bound to cluster-admin for the demo only;
# the chart's least-privilege RBAC is checked by the chart's e2e test).
RECONCILER_KUBECONFIG=$KUBECONFIG
start_webhook() {
  kubectl -n bulkhead-system create serviceaccount bulkhead-reconciler >/dev/null
  kubectl create clusterrolebinding bulkhead-demo-reconciler --clusterrole=cluster-admin --serviceaccount=bulkhead-system:bulkhead-reconciler >/dev/null
  local token
  token=$(kubectl -n bulkhead-system create token bulkhead-reconciler --duration=2h)
  RECONCILER_KUBECONFIG=$DIR/reconciler.kubeconfig
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" set-cluster demo --server="$BULKHEAD_APISERVER" --certificate-authority="$BULKHEAD_CA_CERT" --embed-certs >/dev/null
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" set-credentials reconciler --token="$token" >/dev/null
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" set-context demo --cluster=demo --user=reconciler >/dev/null
  kubectl config --kubeconfig="$RECONCILER_KUBECONFIG" use-context demo >/dev/null
  # The configurations first: the webhook injects its CA into them when it starts.
  helm template bulkhead charts/bulkhead --namespace bulkhead-system --set "webhook.url=https://127.0.0.1:$WEBHOOK_PORT" \
    --show-only templates/webhook-configurations.yaml | kubectl apply -f - >/dev/null
  BULKHEAD_NAMESPACE=bulkhead-system BULKHEAD_WEBHOOK_PORT=$WEBHOOK_PORT BULKHEAD_WEBHOOK_HOST=127.0.0.1 \
    setsid node_modules/.bin/tsx webhook/main.ts >"$DIR/logs/webhook.log" 2>&1 &
  WEBHOOK_PID=$!
  echo "webhook $WEBHOOK_PID" >>"$DEMO_PIDS"
  for _ in $(seq 1 150); do
    curl -skf "https://127.0.0.1:$WEBHOOK_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -skf "https://127.0.0.1:$WEBHOOK_PORT/readyz" >/dev/null 2>&1 || return 1
  for _ in $(seq 1 150); do
    [[ -n $(kubectl get mutatingwebhookconfiguration bulkhead -o jsonpath='{.webhooks[0].clientConfig.caBundle}') &&
      -n $(kubectl get validatingwebhookconfiguration bulkhead -o jsonpath='{.webhooks[0].clientConfig.caBundle}') ]] && return 0
    sleep 0.2
  done
  return 1
}

if [[ -f webhook/main.ts && ${DEMO_WEBHOOK:-1} == 1 ]]; then
  say "starting the webhook on https://127.0.0.1:$WEBHOOK_PORT (log: $DIR/logs/webhook.log)"
  if start_webhook; then
    WEBHOOK=1
    note "webhook configurations applied (namespaces labelled bulkhead.dev/enabled=true), CA injected"
  else
    note "the webhook did not come up (see $DIR/logs/webhook.log); continuing without it"
    kubectl delete mutatingwebhookconfiguration bulkhead --ignore-not-found >/dev/null
    kubectl delete validatingwebhookconfiguration bulkhead --ignore-not-found >/dev/null
    if [[ -n $WEBHOOK_PID ]]; then stop_group "$WEBHOOK_PID"; WEBHOOK_PID=""; fi
    RECONCILER_KUBECONFIG=$KUBECONFIG
  fi
fi

say "starting the reconciler (log: $DIR/logs/reconciler.log, metrics: http://127.0.0.1:$METRICS_PORT/metrics)"
KUBECONFIG=$RECONCILER_KUBECONFIG BULKHEAD_METRICS_PORT=$METRICS_PORT BULKHEAD_METRICS_HOST=127.0.0.1 POD_NAME=demo-reconciler \
  setsid node_modules/.bin/tsx reconciler/main.ts >"$DIR/logs/reconciler.log" 2>&1 &
RECONCILER_PID=$!
echo "reconciler $RECONCILER_PID" >>"$DEMO_PIDS"
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null || { echo "the reconciler did not become ready; see $DIR/logs/reconciler.log" >&2; exit 1; }

# rollout IMAGE PERCENT PAUSE
rollout() {
  kubectl apply -f - >/dev/null <<EOF
apiVersion: bulkhead.dev/v1alpha1
kind: StatefulsetRollout
metadata: {name: web, namespace: $NS}
spec:
  percent: $2
  pauseRequested: $3
  disruptionPolicy: {maxUnavailable: "10%"}
  statefulset:
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: web}
    spec:
      replicas: 30
      serviceName: web
      # Parallel: the StatefulSet controller creates (and recreates) pods without waiting for
      # lower ordinals; OrderedReady would serialise the replacements within a wave.
      podManagementPolicy: Parallel
      selector: {matchLabels: {app: web}}
      template:
        metadata:
          labels: {app: web}
          annotations: {kwok.bulkhead.dev/ready-delay: "$READY_DELAY"}
        spec:
          containers:
          - {name: app, image: "$1"}
EOF
}

# The web rollout's status as one line.
web_status() {
  local phase updated target ready wave reason
  IFS='|' read -r phase updated target ready wave reason < <(kubectl -n "$NS" get sroll web -o jsonpath='{.status.phase}|{.status.updatedReplicas}|{.status.targetReplicas}|{.status.readyReplicas}|{.status.currentWave.number}|{.status.reason}' 2>/dev/null)
  printf '%-12s updated %2s/%-2s ready %2s/30  wave %-2s %s' "$phase" "${updated:-0}" "${target:-?}" "${ready:-0}" "${wave:--}" "$reason"
}

# Prints each change of the status line STATUS (a function; web_status by default) until the
# command "$@" succeeds (or 180 s pass).
follow() {
  local last="" line done_now deadline=$((SECONDS + 180))
  while ((SECONDS < deadline)); do
    done_now=0
    "$@" && done_now=1
    line=$("${STATUS:-web_status}")
    if [[ $line != "$last" ]]; then
      printf '    %s\n' "$line"
      last=$line
    fi
    ((done_now)) && return 0
    sleep 0.5
  done
  echo "timed out; see $DIR/logs/reconciler.log" >&2
  return 1
}

generation() { kubectl -n "$NS" get sroll web -o jsonpath='{.metadata.generation}'; }
observed() { kubectl -n "$NS" get sroll web -o jsonpath='{.status.observedGeneration}'; }
phase_is() { [[ $(kubectl -n "$NS" get sroll web -o jsonpath='{.status.phase}') == "$1" && $(observed) == "$(generation)" ]]; }

updated_at_least() { (($(kubectl -n "$NS" get sroll web -o jsonpath='{.status.updatedReplicas}') >= $1)); }

revisions() {
  kubectl -n "$NS" get pods -o jsonpath='{range .items[*]}{.metadata.labels.controller-revision-hash}{"\n"}{end}' | sort | uniq -c | sed 's/^/    /'
}

say "creating a 30-pod StatefulSet through a StatefulsetRollout (image app:v1, PDB maxUnavailable 10%)"
rollout registry.example/app:v1 100 false
follow phase_is RolloutDone
revisions

say "rolling out app:v2 at 10% (ceil(30 x 10%) = 3 pods)"
rollout registry.example/app:v2 10 false
follow phase_is RolloutDone
revisions

say "raising to 50% (15 pods), pausing after a few waves"
rollout registry.example/app:v2 50 false
follow updated_at_least 8
rollout registry.example/app:v2 50 true
note "pauseRequested: true (the wave in flight finishes first)"
follow phase_is Paused
note "paused; nothing moves for 5 seconds:"
sleep 5
follow true
revisions
if ((WEBHOOK)); then
  # Ordinal 0: waves take the highest ordinals first, so it is still on the old revision.
  old_pod="$(kubectl -n "$NS" get sroll web -o jsonpath='{.status.statefulsetName}')-0"
  note "leak guard: deleting old pod $old_pod while the rollout is split and paused:"
  if out=$(kubectl -n "$NS" delete pod "$old_pod" --wait=false 2>&1); then
    note "  (allowed: $out)"
  else
    printf '%s\n' "$out" | fold -s -w 100 | sed 's/^/      /'
  fi
fi

say "resuming to 50%"
rollout registry.example/app:v2 50 false
follow phase_is RolloutDone
revisions

say "finishing at 100%"
rollout registry.example/app:v2 100 false
follow phase_is RolloutDone
revisions

# --- zones: one StatefulSet per zone, one rollout group -------------------------------------
# hack/cluster-up.sh labels the KWOK nodes topology.kubernetes.io/zone zone-a, zone-b, zone-c.
ZONE_PODS=6
ZONES=(a b c)

# group_member LETTER ORDER IMAGE: the StatefulsetRollout of zone LETTER, pinned there by node
# affinity, member ORDER of group ingester.
group_member() {
  cat <<EOF
---
apiVersion: bulkhead.dev/v1alpha1
kind: StatefulsetRollout
metadata: {name: ingester-$1, namespace: $NS}
spec:
  percent: 100
  group: {name: ingester, order: $2}
  disruptionPolicy: {maxUnavailable: "50%"}
  statefulset:
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: ingester-$1}
    spec:
      replicas: $ZONE_PODS
      serviceName: ingester-$1
      podManagementPolicy: Parallel
      selector: {matchLabels: {app: ingester-$1}}
      template:
        metadata:
          labels: {app: ingester-$1}
          annotations: {kwok.bulkhead.dev/ready-delay: "$READY_DELAY"}
        spec:
          containers:
          - {name: app, image: "$3"}
          affinity:
            nodeAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                nodeSelectorTerms:
                - matchExpressions:
                  - {key: topology.kubernetes.io/zone, operator: In, values: [zone-$1]}
EOF
}
group_rollout() { for i in 0 1 2; do group_member "${ZONES[i]}" $((i + 1)) "$1"; done | kubectl apply -f - >/dev/null; }

# Pods Ready (and not terminating) in zone LETTER.
zone_ready() {
  kubectl -n "$NS" get pods -l "app=ingester-$1" -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -cx True || true
}
zone_degraded() { (($(zone_ready "$1") < ZONE_PODS)); }

# Per zone: its rollout's phase (or, from status.group.waitingFor, the member it waits for or its
# own pods), its pods on the StatefulSet's update revision, its pods Ready. Three kubectl calls
# per line.
group_status() {
  local members=(ingester-a ingester-b ingester-c) pods sets rollouts z rev new ready phase generation observed waiting out=""
  # Missing objects (just created) read as nothing, not as a failure of the demo.
  pods=$(kubectl -n "$NS" get pods -l 'app in (ingester-a,ingester-b,ingester-c)' -o jsonpath='{range .items[*]}{.metadata.labels.app} {.metadata.labels.controller-revision-hash} {.metadata.deletionTimestamp}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' || true)
  sets=$(kubectl -n "$NS" get sts "${members[@]}" -o jsonpath='{range .items[*]}{.metadata.name} {.status.updateRevision}{"\n"}{end}' 2>/dev/null || true)
  rollouts=$(kubectl -n "$NS" get sroll "${members[@]}" -o jsonpath='{range .items[*]}{.metadata.name}|{.status.phase}|{.metadata.generation}|{.status.observedGeneration}|{.status.group.waitingFor}{"\n"}{end}' 2>/dev/null || true)
  for z in "${ZONES[@]}"; do
    rev=$(awk -v m="ingester-$z" '$1 == m {print $2}' <<<"$sets")
    new=$(awk -v m="ingester-$z" -v r="$rev" '$1 == m && $2 == r {n++} END {print n + 0}' <<<"$pods")
    ready=$(awk -v m="ingester-$z" '$1 == m && $3 == "True" {n++} END {print n + 0}' <<<"$pods")
    IFS='|' read -r _ phase generation observed waiting < <(grep "^ingester-$z|" <<<"$rollouts")
    if [[ $generation != "$observed" ]]; then
      phase="(new spec)"
    elif [[ $waiting == "its own pods"* ]]; then
      phase="own pods not Ready"
    elif [[ -n $waiting ]]; then
      phase="waits for ${waiting%% *}"
    fi
    out+=$(printf 'zone-%s %-22s new %s/%s ready %s/%s' "$z" "$phase" "$new" "$ZONE_PODS" "$ready" "$ZONE_PODS")
    [[ $z == c ]] || out+=" | "
  done
  printf '%s' "$out"
}
# Every zone's rollout RolloutDone for its current spec.
group_done() {
  kubectl -n "$NS" get sroll ingester-a ingester-b ingester-c -o jsonpath='{range .items[*]}{.status.phase}|{.metadata.generation}|{.status.observedGeneration}{"\n"}{end}' |
    awk -F'|' '$1 == "RolloutDone" && $2 == $3 {n++} END {exit n != 3}'
}

# The kubectl plugin from this checkout: `kubectl sroll` runs the kubectl-sroll found on PATH.
mkdir -p "$DIR/plugins"
ln -sfn "$ROOT/cli/kubectl-sroll.js" "$DIR/plugins/kubectl-sroll"
export PATH="$DIR/plugins:$PATH"

say "zones: three StatefulSets of $ZONE_PODS pods, one per zone (node affinity on topology.kubernetes.io/zone), one rollout group"
note "spec.group: {name: ingester, order: 1|2|3} for ingester-a (zone-a), ingester-b (zone-b), ingester-c (zone-c)"
note "budget maxUnavailable 50% each: up to 3 pods of a zone per wave (a zone's pods may go together: that is the point of zones)"
group_rollout registry.example/ingester:v1
STATUS=group_status follow group_done
note "\$ kubectl sroll list -n $NS"
kubectl sroll list -n "$NS" | sed 's/^/    /'

say "rolling the group to ingester:v2: zone-a first, zone-b only once zone-a is all Ready, then zone-c"
group_rollout registry.example/ingester:v2
STATUS=group_status follow zone_degraded a
if ((WEBHOOK)); then
  note "zone-a is degraded: what kubectl drain gets for a zone-b pod now (a dry-run eviction of ingester-b-0; nothing is evicted):"
  eviction='{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"ingester-b-0","namespace":"'$NS'"},"deleteOptions":{"dryRun":["All"]}}'
  if kubectl create --raw "/api/v1/namespaces/$NS/pods/ingester-b-0/eviction" -f - <<<"$eviction" >/dev/null 2>"$DIR/eviction.err"; then
    note "  (allowed: zone-a was Ready again by then)"
  else
    fold -s -w 100 "$DIR/eviction.err" | sed 's/^/      /'
  fi
fi
note "\$ kubectl sroll status ingester-c -n $NS   (its group lines: the last zone waits for the ones before it)"
kubectl sroll status ingester-c -n "$NS" | grep -E '^(Phase|Group|Members|Waiting for):' | sed 's/^/    /'
STATUS=group_status follow group_done
note "\$ kubectl sroll list -n $NS"
kubectl sroll list -n "$NS" | sed 's/^/    /'

say "metrics"
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^bulkhead_(rollouts|pods_evicted_total|wave_duration_seconds_(count|sum))' | sed 's/^/    /'
say "done"
