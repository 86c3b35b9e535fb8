#!/usr/bin/env bash
# Start a real Kubernetes control plane on loopback with KWOK-simulated nodes.
#
# Usage: hack/cluster-up.sh --dir DIR [--nodes N]
#
#   DIR/kubeconfig     admin kubeconfig (O=system:masters)
#   DIR/env            `source DIR/env` -> KUBECONFIG, BULKHEAD_BIN, BULKHEAD_CA_CERT, ...
#   DIR/pki/           CA, serving and client certificates, service-account key pair
#   DIR/logs/*.log     one log per component; DIR/pids/*.pid one pid file per component
#
# Components: etcd, kube-apiserver (Node,RBAC; default admission plugins incl. the
# admission webhooks), kube-controller-manager (all default controllers), kube-scheduler
# and kwok managing N fake nodes kwok-node-0..N-1 (cpu 32, memory 256Gi, pods 110), labelled
# topology.kubernetes.io/zone zone-a, zone-b, zone-c round-robin (node i: zone i mod 3).
#
# Environment:
#   BULKHEAD_CACHE                   build cache (see build-control-plane.sh)
#   BULKHEAD_KWOK_POD_READY_DELAY    e.g. 5s / 500ms: pods start at once but turn Ready only
#                                    after this delay (default: Ready immediately)
#   BULKHEAD_KWOK_POD_WORKERS        how many pod-stage workers KWOK runs (1-256; default: KWOK's
#                                    own, 4). Each worker applies one pod's stage at a time (a
#                                    DELETE, a status PATCH) and waits for the apiserver's answer;
#                                    a real cluster's kubelets act in parallel, one per node, so
#                                    the rollout benchmarks run 16
#   BULKHEAD_NODE_MONITOR_GRACE      how long a node may miss its heartbeats before the node
#                                    lifecycle controller marks it (and its pods) not Ready
#                                    (default 20s, quick for tests; upstream's default is 50s)
#   BULKHEAD_AUDIT_POLICY            an audit Policy file: the apiserver logs what it selects to
#                                    DIR/logs/audit.log (JSON lines; the scale benchmark counts
#                                    requests by client from it)
#
# Stop with: hack/cluster-down.sh --dir DIR
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
t0=$(date +%s%N)

log() { printf '[cluster-up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - t0) / 1000000 ))ms"; }

DIR=""
NODES=3
while (($#)); do
  case $1 in
    --dir) DIR=$2; shift ;;
    --dir=*) DIR=${1#--dir=} ;;
    --nodes) NODES=$2; shift ;;
    --nodes=*) NODES=${1#--nodes=} ;;
    -h | --help) sed -n '2,32p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
[[ -n $DIR ]] || die "--dir DIR is required"
[[ $NODES =~ ^[0-9]+$ ]] || die "--nodes must be a number"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PKI=$DIR/pki LOGS=$DIR/logs PIDS=$DIR/pids

for tool in openssl python3 curl; do command -v "$tool" >/dev/null || die "$tool not found"; done

# KWOK pod-stage workers (validated before anything starts).
pod_workers=${BULKHEAD_KWOK_POD_WORKERS:-}
if [[ -n $pod_workers ]] && ! [[ $pod_workers =~ ^[1-9][0-9]{0,2}$ && $pod_workers -le 256 ]]; then
  die "BULKHEAD_KWOK_POD_WORKERS must be a whole number from 1 to 256 (got: $pod_workers); unset it for KWOK's default of 4"
fi

# KWOK pod readiness delay (validated before anything starts).
delay=${BULKHEAD_KWOK_POD_READY_DELAY:-}
node_grace=${BULKHEAD_NODE_MONITOR_GRACE:-20s}
[[ $node_grace =~ ^[0-9]+(ms|s|m)$ ]] || die "BULKHEAD_NODE_MONITOR_GRACE must look like 20s or 1m (got: $node_grace)"
delay_ms=0
if [[ -n $delay && $delay != 0 ]]; then
  if [[ $delay =~ ^([0-9]+)(ms|s|m)?$ ]]; then
    case ${BASH_REMATCH[2]} in
      ms) delay_ms=$((10#${BASH_REMATCH[1]})) ;;
      m) delay_ms=$((10#${BASH_REMATCH[1]} * 60000)) ;;
      *) delay_ms=$((10#${BASH_REMATCH[1]} * 1000)) ;;
    esac
  else
    die "BULKHEAD_KWOK_POD_READY_DELAY must look like 500ms, 5s or 1m (got: $delay)"
  fi
fi

# --- already running? -------------------------------------------------------------------
if [[ -f $DIR/env && -d $PIDS ]] && "$HACK_DIR/cluster-down.sh" --dir "$DIR" --check 2>/dev/null; then
  log "cluster in $DIR is already running; source $DIR/env"
  echo "$DIR/env"
  exit 0
fi
if [[ -d $PIDS ]]; then
  log "stale cluster state in $DIR; cleaning up first"
  "$HACK_DIR/cluster-down.sh" --dir "$DIR" >&2
fi

# --- binaries -----------------------------------------------------------------------------
BIN=$("$HACK_DIR/build-control-plane.sh" etcd kube kwok | tail -n1)
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  [[ -x $BIN/$b ]] || die "missing $BIN/$b"
done
log "binaries: $BIN ($(elapsed))"
t0=$(date +%s%N) # cluster start time excludes the (cached) build step

mkdir -p "$PKI" "$LOGS" "$PIDS" "$DIR/etcd"

# If anything below fails, stop what was started.
started=0
on_exit() {
  local rc=$?
  if ((rc != 0 && started)); then
    log "start-up failed (exit $rc); stopping components. Logs in $LOGS"
    "$HACK_DIR/cluster-down.sh" --dir "$DIR" --keep-logs >&2 || true
  fi
}
trap on_exit EXIT

# --- ports --------------------------------------------------------------------------------
read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT < <("$HACK_DIR/free-ports.sh" 6)
APISERVER=https://127.0.0.1:$API_PORT
log "ports: etcd=$ETCD_PORT/$ETCD_PEER_PORT apiserver=$API_PORT kcm=$KCM_PORT scheduler=$SCHED_PORT kwok=$KWOK_PORT"

# --- PKI ----------------------------------------------------------------------------------
# EC P-256 keys: fast to generate and accepted by every component (also as SA signing key).
ecgen() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
if [[ ! -f $PKI/ca.crt ]]; then
  ecgen "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -sha256 -days 3650 -subj "/CN=bulkhead-e2e-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
fi
# issue NAME SUBJECT EXTFILE-CONTENT
issue() {
  local name=$1 subj=$2 ext=$3
  ecgen "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
CLIENT_EXT=$'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'
if [[ ! -f $PKI/apiserver.crt ]]; then
  issue apiserver "/CN=kube-apiserver" $'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local'
  issue admin "/O=system:masters/CN=bulkhead-admin" "$CLIENT_EXT"
  issue kube-controller-manager "/CN=system:kube-controller-manager" "$CLIENT_EXT"
  issue kube-scheduler "/CN=system:kube-scheduler" "$CLIENT_EXT"
  issue kwok "/O=system:masters/CN=kwok-controller" "$CLIENT_EXT"
  ecgen "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
log "pki ready ($(elapsed))"

kubeconfig() { # NAME -> DIR/NAME.kubeconfig (admin -> DIR/kubeconfig)
  local name=$1 out=$DIR/$1.kubeconfig
  [[ $name == admin ]] && out=$DIR/kubeconfig
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bulkhead-e2e
  cluster:
    server: $APISERVER
    certificate-authority: $PKI/ca.crt
users:
- name: $name
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
contexts:
- name: bulkhead-e2e
  context:
    cluster: bulkhead-e2e
    user: $name
    namespace: default
current-context: bulkhead-e2e
EOF
  chmod 600 "$out"
}
for n in admin kube-controller-manager kube-scheduler kwok; do kubeconfig "$n"; done

# --- process helpers ----------------------------------------------------------------------
# start NAME CMD... : runs detached (own session, no inherited stdio), pid in DIR/pids.
start() {
  local name=$1; shift
  setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
  started=1
}
alive() { kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
# wait_until NAME TIMEOUT_S DESCRIPTION CMD... : poll CMD, fail early if NAME died.
wait_until() {
  local name=$1 timeout=$2 what=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $name ]] && ! alive "$name"; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $LOGS/$name.log)"
    fi
    ((SECONDS < deadline)) || { [[ -n $name ]] && tail -n 30 "$LOGS/$name.log" >&2; die "timed out after ${timeout}s waiting for $what"; }
    sleep 0.2
  done
  log "$what ($(elapsed))"
}
api_get() {
  curl -fsS --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$APISERVER$1"
}
KUBECTL=("$BIN/kubectl" --kubeconfig "$DIR/kubeconfig")

# --- etcd ---------------------------------------------------------------------------------
start etcd "$BIN/etcd" \
  --name bulkhead-e2e \
  --data-dir "$DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "bulkhead-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync \
  --log-level warn
wait_until etcd 30 "etcd healthy" curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

# --- kube-apiserver -----------------------------------------------------------------------
audit_args=()
if [[ -n ${BULKHEAD_AUDIT_POLICY:-} ]]; then
  [[ -f $BULKHEAD_AUDIT_POLICY ]] || die "BULKHEAD_AUDIT_POLICY: no such file: $BULKHEAD_AUDIT_POLICY"
  audit_args=(--audit-policy-file "$BULKHEAD_AUDIT_POLICY" --audit-log-path "$LOGS/audit.log" --audit-log-maxsize 0)
fi
start kube-apiserver "$BIN/kube-apiserver" "${audit_args[@]}" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --secure-port "$API_PORT" \
  --endpoint-reconciler-type none \
  --tls-cert-file "$PKI/apiserver.crt" \
  --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --allow-privileged=true \
  --profiling=false \
  --max-requests-inflight 800 \
  --max-mutating-requests-inflight 400
wait_until kube-apiserver 90 "kube-apiserver /readyz" api_get /readyz

# --- kube-controller-manager --------------------------------------------------------------
start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig "$DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$DIR/kube-controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 \
  --secure-port "$KCM_PORT" \
  --leader-elect=false \
  --controllers '*' \
  --use-service-account-credentials=true \
  --service-account-private-key-file "$PKI/sa.key" \
  --root-ca-file "$PKI/ca.crt" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --allocate-node-cidrs=false \
  --node-monitor-period 2s \
  --node-monitor-grace-period "$node_grace" \
  --kube-api-qps 200 \
  --kube-api-burst 400 \
  --profiling=false

# --- kube-scheduler -----------------------------------------------------------------------
cat >"$DIR/kube-scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $DIR/kube-scheduler.kubeconfig
  qps: 200
  burst: 400
leaderElection:
  leaderElect: false
EOF
start kube-scheduler "$BIN/kube-scheduler" \
  --config "$DIR/kube-scheduler.yaml" \
  --authentication-kubeconfig "$DIR/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$DIR/kube-scheduler.kubeconfig" \
  --bind-address 127.0.0.1 \
  --secure-port "$SCHED_PORT" \
  --profiling=false

# --- kwok ---------------------------------------------------------------------------------
# Render the stage configuration (see hack/kwok/README.md).
stages=$DIR/kwok-stages.yaml
{
  if [[ -n $pod_workers ]]; then
    # KWOK v0.8.0 leaves the options a KwokConfiguration omits at zero rather than at its
    # defaults (a zero node-lease parallelism stops it at start), so its defaults are restated.
    cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: $pod_workers
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: true
  enableProfilingHandler: true
  enableContentionProfiling: false
---
EOF
  fi
  for f in node-initialize node-heartbeat pod-delete pod-never-ready; do
    cat "$HACK_DIR/kwok/$f.yaml"; echo '---'
  done
  if ((delay_ms > 0)); then
    sed -e '/# bulkhead:drop-when-delayed/d' \
      -e "s/durationMilliseconds: 0 # bulkhead:ready-delay-ms/durationMilliseconds: $delay_ms/" \
      "$HACK_DIR/kwok/pod-ready.yaml"
    echo '---'; cat "$HACK_DIR/kwok/pod-start.yaml"
  else
    cat "$HACK_DIR/kwok/pod-ready.yaml"
  fi
} >"$stages"
log "kwok stages: $stages (pod ready delay: ${delay_ms}ms, pod workers: ${pod_workers:-default})"

start kwok "$BIN/kwok" \
  --kubeconfig "$DIR/kwok.kubeconfig" \
  --config "$stages" \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --cidr 10.244.0.0/16 \
  --node-lease-duration-seconds 40 \
  --server-address "127.0.0.1:$KWOK_PORT"

# --- nodes --------------------------------------------------------------------------------
# Zones round-robin (kwok-node-0 zone-a, -1 zone-b, -2 zone-c, -3 zone-a, ...), so tests and the
# demo can place one StatefulSet per zone with node affinity on topology.kubernetes.io/zone.
ZONES=(zone-a zone-b zone-c)
nodes_yaml=""
for ((i = 0; i < NODES; i++)); do
  nodes_yaml+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: \"\"
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: ${ZONES[i % 3]}
    type: kwok
spec: {}
status:
  addresses:
  - {type: InternalIP, address: 10.1.$((i / 250)).$((i % 250 + 1))}
  - {type: Hostname, address: kwok-node-$i}
  allocatable: {cpu: \"32\", memory: 256Gi, pods: \"110\"}
  capacity: {cpu: \"32\", memory: 256Gi, pods: \"110\"}
"
done
if ((NODES > 0)); then
  printf '%s' "$nodes_yaml" >"$DIR/nodes.yaml"
  "${KUBECTL[@]}" apply -f "$DIR/nodes.yaml" >/dev/null
fi

# --- env file -----------------------------------------------------------------------------
cat >"$DIR/env" <<EOF
# Generated by hack/cluster-up.sh; source it to talk to the e2e cluster.
export BULKHEAD_CLUSTER_DIR=$DIR
export KUBECONFIG=$DIR/kubeconfig
export BULKHEAD_BIN=$BIN
export BULKHEAD_APISERVER=$APISERVER
export BULKHEAD_CA_CERT=$PKI/ca.crt
export BULKHEAD_CA_KEY=$PKI/ca.key
export BULKHEAD_ADMIN_CERT=$PKI/admin.crt
export BULKHEAD_ADMIN_KEY=$PKI/admin.key
export PATH=$BIN:\$PATH
EOF

# --- readiness ----------------------------------------------------------------------------
sa_exists() { "${KUBECTL[@]}" get serviceaccount default -n default; }
wait_until kube-controller-manager 60 "default ServiceAccount in namespace default" sa_exists
nodes_ready() {
  local ready
  ready=$("${KUBECTL[@]}" get nodes -l type=kwok \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)
  ((ready == NODES)) || return 1
  # the node lifecycle controller removes the not-ready taint once it has seen the node Ready
  ! "${KUBECTL[@]}" get nodes -l type=kwok -o jsonpath='{.items[*].spec.taints}' | grep -q 'node.kubernetes.io/'
}
if ((NODES > 0)); then
  wait_until kwok 60 "$NODES kwok nodes Ready and untainted" nodes_ready
fi
sched_ok() { curl -fsSk --max-time 2 "https://127.0.0.1:$SCHED_PORT/healthz"; }
wait_until kube-scheduler 30 "kube-scheduler healthy" sched_ok

trap - EXIT
log "cluster up in $(elapsed): apiserver $APISERVER, $NODES nodes; source $DIR/env"
echo "$DIR/env"
