#!/usr/bin/env bash
# Runs the checks and test tiers named on the command line (lint format typecheck unit component e2e),
# keeps going past a failing tier, and ends with the one line CI reads: "N passed, N failed".
# Lint and typecheck count as one test each; a tier that dies before reporting counts as one failure.
set -uo pipefail
cd "$(dirname "$0")/.."
# The Node the project pins (npm package `node`), whoever calls this script.
export PATH="$PWD/node_modules/.bin:$PATH"
counts=$(mktemp)
trap 'rm -f "$counts"' EXIT
export BULKHEAD_TEST_COUNTS=$counts
mocha=(mocha --reporter ./test/support/summary-reporter.cjs)

check() { # name, command...
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo "1 0 0" >>"$counts"; else echo "0 1 0" >>"$counts"; echo "$name FAILED" >&2; fi
}

tier() { # name, mocha args...
  local name=$1; shift
  echo "== $name tests"
  local before; before=$(wc -l <"$counts")
  "${mocha[@]}" "$@"
  local rc=$?
  if [[ $(wc -l <"$counts") == "$before" ]]; then
    echo "$name tier exited $rc without reporting results" >&2
    echo "0 1 0" >>"$counts"
  fi
}

for step in "$@"; do
  case $step in
    lint) check lint eslint . ;;
    format) check format prettier --check --log-level warn . ;;
    typecheck) check typecheck tsc -p tsconfig.json --noEmit ;;
    unit) tier unit 'test/unit/**/*.test.ts' ;;
    component) tier component --timeout 20000 'test/component/**/*.test.ts' ;;
    e2e) tier e2e --timeout 180000 --require test/e2e/support/cluster.ts 'test/e2e/**/*.e2e.test.ts' ;;
    *) echo "unknown step $step" >&2; echo "0 1 0" >>"$counts" ;;
  esac
done

passed=0 failed=0 skipped=0
while read -r p f s; do passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s)); done <"$counts"
echo
if ((skipped > 0)); then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
((failed == 0))
