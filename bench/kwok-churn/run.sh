#!/usr/bin/env bash
# Simulator check (bench/kwok-churn/run.ts): pods created ≈ pods replaced on a fresh cluster.
# Usage: bench/kwok-churn/run.sh [PODS (default 200)] [MODES (default rolling,delete)] [READY_DELAY_SECONDS (default 2)]
#          [SETS (default 1): StatefulSets of PODS pods each]
#   KWOK_CHURN_IN_FLIGHT  delete requests in flight in the delete mode (default 20)
#   KWOK_CHURN_TIMEOUT    bound for each mode, seconds (default 180)
# Prints the machine, date, load average and one markdown row per mode; exits 1 if any run is invalid.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PODS=${1:-200}
MODES=${2:-rolling,delete}
DELAY=${3:-2}
SETS=${4:-1}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-kwok-churn-XXXXXX")
cleanup() { hack/cluster-down.sh --dir "$DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
NODES=$(((SETS * PODS * 11 / 10 + 109) / 110 + 1))
BULKHEAD_KWOK_POD_READY_DELAY=${DELAY}s hack/cluster-up.sh --dir "$DIR" --nodes "$NODES" >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
export PATH="$ROOT/node_modules/.bin:$PATH"
echo "machine: $(nproc) cores; $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg); $NODES nodes; KWOK ready delay ${DELAY}s; logs $DIR/logs" >&2
echo "simulator: $("$BULKHEAD_BIN/kwok" --version)" >&2
echo "| pods | mode | wall time (s) | pods created | pods deleted | run |"
echo "|---:|---|---:|---|---:|---|"
rc=0
IFS=, read -ra modes <<<"$MODES"
for m in "${modes[@]}"; do
  tsx bench/kwok-churn/run.ts --pods "$PODS" --sets "$SETS" --mode "$m" --in-flight "${KWOK_CHURN_IN_FLIGHT:-20}" \
    --timeout-seconds "${KWOK_CHURN_TIMEOUT:-180}" || rc=1
done
# "Skip delete pod": the patched KWOK's delete found the pod gone or replaced (UID precondition).
kwok_log=$DIR/logs/kwok.log
echo "kwok: $(grep -c '"msg":"Delete pod"' "$kwok_log") deletes, $(grep -v '"msg":"Skip delete pod"' "$kwok_log" | grep -c 'not found') of a pod already gone (failed), $(grep -c '"msg":"Skip delete pod"' "$kwok_log") refused by the UID precondition" >&2
exit $rc
