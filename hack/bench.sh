#!/usr/bin/env bash
# `make bench`: the benchmarks of bench/, results printed (raw JSON under the run's directory).
# Record the figures in bench/RESULTS.md with the machine, date, command and load average.
#   BENCH_ROLLOUT_PODS     default 100,1000
#   BENCH_ROLLOUT_METHODS  default bulkhead,native-10,native-1,peer-default,peer-fastest
#   BENCH_ROLLOUT_ROUNDS   runs of each contender per size, interleaved (default 1, at most 10)
#   BENCH_BULKHEAD_REFS    git refs measured beside the working tree (e.g. main)
#   BENCH_SKIP_ADMISSION=1 only the rollout benchmark
# Other variables: bench/rollout/run.sh. The scale benchmark is `make bench-scale`.
# On a shared machine: flock /tmp/bulkhead-e2e.lock make bench
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${BENCH_SKIP_ADMISSION:-0} != 1 ]]; then
  echo "== admission latency (bench/admission/run.sh)"
  bench/admission/run.sh
fi
echo "== rollout wall time, side by side (bench/rollout/run.sh)"
bench/rollout/run.sh "${BENCH_ROLLOUT_PODS:-100,1000}" 2 \
  "${BENCH_ROLLOUT_METHODS:-bulkhead,native-10,native-1,peer-default,peer-fastest}"
