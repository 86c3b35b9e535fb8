#!/usr/bin/env bash
# Fault scenario: kube-apiserver stopped for 20 s mid-rollout (bench/faults/apiserver-restart.ts).
# FAULTS_PODS (default 50), FAULTS_OUTAGE_SECONDS (default 20).
set -euo pipefail
# shellcheck source=bench/faults/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
faults_build_reconciler
pods=${FAULTS_PODS:-50}
faults_cluster $(((pods + 109) / 110 + 1)) "${FAULTS_READY_DELAY:-1s}"
faults_reconciler_kubeconfig
read -r port < <(hack/free-ports.sh 1)
faults_webhook "$port"
tsx bench/faults/apiserver-restart.ts
