#!/usr/bin/env bash
# `make bench`: the benchmarks of bench/, results printed and raw JSON under bench/out/.
# Record the figures in bench/RESULTS.md with the machine, date and command.
#   BENCH_ROLLOUT_PODS     default 100 (1,000 takes several minutes per method)
#   BENCH_ROLLOUT_METHODS  default bulkhead,native-10 (add native-1 for one pod at a time)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== admission latency (bench/admission/run.sh)"
bench/admission/run.sh
echo "== rollout wall time (bench/rollout/run.sh)"
bench/rollout/run.sh "${BENCH_ROLLOUT_PODS:-100}" 2 "${BENCH_ROLLOUT_METHODS:-bulkhead,native-10}"
