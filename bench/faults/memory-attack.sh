#!/usr/bin/env bash
# The memory attack of issue #13 (bench/faults/memory-attack.ts), compiled with tsc first as the
# admission benchmark is (bench/admission/run.sh): tsx in the child would add its own memory.
# Loopback only; each scenario is bounded by --seconds. Not part of `make test`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mktemp -d /tmp/bulkhead-faults-XXXXXX)
trap 'rm -rf "$build"' EXIT
ln -s "$repo/node_modules" "$build/node_modules"
"$repo/node_modules/.bin/tsc" -p "$repo/tsconfig.json" --noEmit false --outDir "$build" --sourceMap false >/dev/null || true
test -f "$build/bench/faults/memory-attack.js" || { echo "tsc did not emit bench/faults/memory-attack.js" >&2; exit 1; }
"$repo/node_modules/.bin/node" "$build/bench/faults/memory-attack.js" "$@"
