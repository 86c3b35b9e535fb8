#!/usr/bin/env bash
# Fault scenario: one of two webhook replicas SIGKILLed under load (bench/faults/webhook-replica-kill.ts).
# No cluster needed. FAULTS_RATE (default 500/s), FAULTS_SECONDS (default 20).
set -euo pipefail
# shellcheck source=bench/faults/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tsx bench/faults/webhook-replica-kill.ts
