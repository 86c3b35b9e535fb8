#!/usr/bin/env bash
# Fault scenario: the reconciler SIGKILLed at random points (bench/faults/reconciler-kill.ts).
# FAULTS_ROLLOUTS x FAULTS_PODS (default 20 x 50) on a fresh cluster; FAULTS_SEED reproduces.
set -euo pipefail
# shellcheck source=bench/faults/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
faults_build_reconciler
rollouts=${FAULTS_ROLLOUTS:-20}
pods=${FAULTS_PODS:-50}
# 110 pods per KWOK node, plus one spare.
faults_cluster $(((rollouts * pods + 109) / 110 + 1)) "${FAULTS_READY_DELAY:-1s}"
tsx bench/faults/reconciler-kill.ts
