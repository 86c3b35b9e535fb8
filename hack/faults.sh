#!/usr/bin/env bash
# The fault suite (`make faults`; not part of `make test`): runs every scenario in bench/faults
# (each *.sh there but lib.sh), each bounded by FAULTS_SCENARIO_TIMEOUT seconds (default 1800),
# all on loopback. Prints the machine, date, command and load average, each scenario's checks,
# and a markdown summary for bench/RESULTS.md; the JSON verdicts go to $FAULTS_OUT.
#
#   FAULTS_ONLY=reconciler-kill,webhook-replica-kill   run only these scenarios
#   FAULTS_SEED=N          reproduce the reconciler-kill schedule (the seed is always printed)
#   FAULTS_ROLLOUTS / FAULTS_PODS / FAULTS_RATE / FAULTS_SECONDS / FAULTS_OUTAGE_SECONDS
#                          scale the scenarios (see each bench/faults/*.ts header)
# Scenarios that start a cluster use their own; on a shared machine run the suite under the
# e2e lock: flock /tmp/bulkhead-e2e.lock make faults
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${FAULTS_OUT:-$(mktemp "${TMPDIR:-/tmp}/bulkhead-faults-XXXXXX.jsonl")}
LIMIT=${FAULTS_SCENARIO_TIMEOUT:-1800}
[[ $LIMIT =~ ^[0-9]+$ ]] || { echo "FAULTS_SCENARIO_TIMEOUT must be a number of seconds" >&2; exit 2; }

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
settings=$(env | grep -E '^FAULTS_[A-Z_]+=' | sort | tr '\n' ' ')
echo "machine: $machine"
echo "date: $(date -u +%FT%TZ)"
echo "command: ${settings}hack/faults.sh"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

scenarios=()
for f in bench/faults/*.sh; do
  name=$(basename "$f" .sh)
  [[ $name == lib ]] && continue
  if [[ -n ${FAULTS_ONLY:-} && ",$FAULTS_ONLY," != *",$name,"* ]]; then continue; fi
  scenarios+=("$name")
done
((${#scenarios[@]})) || { echo "no scenario selected (FAULTS_ONLY=${FAULTS_ONLY:-})" >&2; exit 2; }

failed=0
rows=()
for name in "${scenarios[@]}"; do
  echo
  echo "== $name (bounded by ${LIMIT}s; load average $(cut -d' ' -f1-3 /proc/loadavg))"
  started=$(date +%s)
  # The verdict is the scenario's last stdout line; its checks go to stderr (shown as they come).
  verdict=$(timeout --kill-after=30 "$LIMIT" "bench/faults/$name.sh" | tail -n1)
  rc=${PIPESTATUS[0]}
  took=$(($(date +%s) - started))
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then result="FAIL (timed out after ${LIMIT}s)"
  elif [[ $rc -eq 0 ]]; then result=PASS
  else result="FAIL (exit $rc)"
  fi
  [[ $rc -eq 0 ]] || failed=1
  [[ $verdict == \{* ]] && echo "$verdict" >>"$OUT"
  rows+=("| $name | $result | ${took}s | $(cut -d' ' -f1-3 /proc/loadavg) |")
done

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "verdicts (JSON): $OUT"
echo
echo "| scenario | result | wall time | load average after |"
echo "|---|---|---:|---|"
printf '%s\n' "${rows[@]}"
exit $failed
