#!/usr/bin/env bash
# Run a command against a fresh e2e cluster, then stop it.
#
# Usage: hack/with-cluster.sh [--nodes N] [--keep] -- CMD [ARGS...]
#   The command runs with DIR/env sourced (KUBECONFIG, BULKHEAD_BIN, PATH with kubectl, ...).
#   --keep leaves the cluster running and prints how to stop it.
set -euo pipefail
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nodes=3 keep=0
while (($#)); do
  case $1 in
    --nodes) nodes=$2; shift ;;
    --keep) keep=1 ;;
    --) shift; break ;;
    *) break ;;
  esac
  shift
done
(($#)) || { echo "usage: $0 [--nodes N] [--keep] -- CMD [ARGS...]" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-cluster-XXXXXX")
cleanup() {
  if ((keep)); then
    echo "cluster left running: source $dir/env; stop with $HACK_DIR/cluster-down.sh --dir $dir --purge" >&2
  else
    "$HACK_DIR/cluster-down.sh" --dir "$dir" --purge >&2 || true
  fi
}
trap cleanup EXIT
"$HACK_DIR/cluster-up.sh" --dir "$dir" --nodes "$nodes" >/dev/null
# shellcheck disable=SC1091
source "$dir/env"
"$@"
