#!/usr/bin/env bash
# Fault scenario: one of two webhook replicas SIGKILLed under load (bench/faults/webhook-replica-kill.ts).
# No cluster needed. FAULTS_RATE (default 500/s), FAULTS_SECONDS (default 20). Compiled with tsc
# into a temporary directory first, like bench/admission/run.sh.
set -euo pipefail
# shellcheck source=bench/faults/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$FAULTS_DIR/build
mkdir -p "$build"
ln -s "$ROOT/node_modules" "$build/node_modules"
# Type errors elsewhere in the tree do not stop the emit; these files typecheck.
tsc -p tsconfig.json --noEmit false --outDir "$build" --sourceMap false >/dev/null || true
test -f "$build/bench/faults/webhook-replica-kill.js" || { faults_log "tsc did not emit the scenario"; exit 1; }
node "$build/bench/faults/webhook-replica-kill.js"
