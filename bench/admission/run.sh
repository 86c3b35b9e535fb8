#!/usr/bin/env bash
# Compiles the project with tsc into a temporary directory (outside the tree, so lint never sees
# it) and runs the admission benchmark from there: under tsx, esbuild's keepNames helper costs
# more than some of the code being measured.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mktemp -d /tmp/bulkhead-bench-XXXXXX)
trap 'rm -rf "$build"' EXIT
ln -s "$repo/node_modules" "$build/node_modules"
# Type errors elsewhere in the tree do not stop the emit; the benchmark's own files typecheck.
"$repo/node_modules/.bin/tsc" -p "$repo/tsconfig.json" --noEmit false --outDir "$build" --sourceMap false >/dev/null || true
test -f "$build/bench/admission/run.js" || { echo "tsc did not emit bench/admission/run.js" >&2; exit 1; }
# The server runs with the chart's heap flags for the webhook, as production does.
ROOT=$repo
# shellcheck source=../support/node-options.sh
source "$repo/bench/support/node-options.sh"
# BENCH_WEBHOOK_NODE_OPTIONS set by the caller replaces the chart's (to compare heap flags).
if [[ -z ${BENCH_WEBHOOK_NODE_OPTIONS:-} ]]; then
  BENCH_WEBHOOK_NODE_OPTIONS=$(bench_node_options webhook)
  echo "webhook node options: $BENCH_WEBHOOK_NODE_OPTIONS (the chart's)" >&2
else
  echo "webhook node options: $BENCH_WEBHOOK_NODE_OPTIONS (BENCH_WEBHOOK_NODE_OPTIONS, not the chart's)" >&2
fi
BENCH_WEBHOOK_NODE_OPTIONS=$BENCH_WEBHOOK_NODE_OPTIONS BULKHEAD_REPO=$repo "$repo/node_modules/.bin/node" "$build/bench/admission/run.js" "$@"
