#!/usr/bin/env bash
# Fault scenario: kube-apiserver stopped for 20 s mid-rollout (bench/faults/apiserver-restart.ts).
# FAULTS_PODS (default 50), FAULTS_OUTAGE_SECONDS (default 20).
set -euo pipefail
# shellcheck source=bench/faults/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
faults_build_reconciler
pods=${FAULTS_PODS:-50}
# Nodes keep upstream's 50 s heartbeat grace: with the quick 20 s of the test clusters, KWOK's node
# leases (not renewed while the apiserver is down) lapse and the node lifecycle controller marks
# every pod not Ready right after the restart — the control plane's doing, not a rollout's (seen
# at 17:30 UTC on 2026-11-30: "all Nodes are not-Ready", 50 pods not Ready for ~1.6 s).
BULKHEAD_NODE_MONITOR_GRACE=${FAULTS_NODE_MONITOR_GRACE:-50s} \
  faults_cluster $(((pods + 109) / 110 + 1)) "${FAULTS_READY_DELAY:-1s}"
faults_reconciler_kubeconfig
read -r port < <(hack/free-ports.sh 1)
faults_webhook "$port"
tsx bench/faults/apiserver-restart.ts
