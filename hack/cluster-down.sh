#!/usr/bin/env bash
# Stop a cluster started by hack/cluster-up.sh and remove its runtime state.
#
# Usage: hack/cluster-down.sh --dir DIR [--keep-logs | --purge] [--check]
#   default      stop the components, remove etcd data, pki, kubeconfigs, env, pids;
#                keep DIR/logs for post-mortems
#   --keep-logs  same as default (explicit)
#   --purge      also remove DIR itself
#   --check      do not stop anything: exit 0 iff every component recorded in DIR/pids
#                is still running
#
# Only processes recorded in DIR/pids/*.pid are signalled, and only if their command line
# still refers to DIR (guards against pid reuse).
set -euo pipefail

log() { printf '[cluster-down %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

DIR="" MODE=clean CHECK=0
while (($#)); do
  case $1 in
    --dir) DIR=$2; shift ;;
    --dir=*) DIR=${1#--dir=} ;;
    --keep-logs) MODE=clean ;;
    --purge) MODE=purge ;;
    --check) CHECK=1 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
[[ -n $DIR ]] || die "--dir DIR is required"
if [[ ! -d $DIR ]]; then
  ((CHECK)) && exit 1
  log "$DIR does not exist; nothing to do"
  exit 0
fi
DIR=$(cd "$DIR" && pwd)
PIDS=$DIR/pids

# ours PID: the process exists and its command line mentions DIR.
ours() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/"
}

# Stop order: consumers first, etcd last.
ORDER=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

if ((CHECK)); then
  [[ -d $PIDS ]] || exit 1
  n=0
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || exit 1
    ours "$(cat "$f")" || exit 1
    n=$((n + 1))
  done
  ((n > 0))
  exit
fi

if [[ -d $PIDS ]]; then
  # any pid files not in ORDER (future components) go first
  files=()
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    name=$(basename "$f" .pid)
    [[ " ${ORDER[*]} " == *" $name "* ]] || files+=("$f")
  done
  for name in "${ORDER[@]}"; do [[ -e $PIDS/$name.pid ]] && files+=("$PIDS/$name.pid"); done

  for f in "${files[@]}"; do
    name=$(basename "$f" .pid)
    pid=$(cat "$f")
    if ! ours "$pid"; then
      log "$name (pid $pid) is not running"
      rm -f "$f"
      continue
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do # up to 10s
      ours "$pid" || break
      sleep 0.1
    done
    if ours "$pid"; then
      log "$name (pid $pid) did not stop after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do ours "$pid" || break; sleep 0.1; done
    fi
    log "stopped $name (pid $pid)"
    rm -f "$f"
  done
fi

if [[ $MODE == purge ]]; then
  rm -rf "$DIR"
  log "removed $DIR"
else
  rm -rf "$DIR/etcd" "$DIR/pki" "$PIDS" "$DIR/env" "$DIR"/*.kubeconfig "$DIR/kubeconfig" \
    "$DIR/kube-scheduler.yaml" "$DIR/kwok-stages.yaml" "$DIR/nodes.yaml"
  log "removed runtime state in $DIR (logs kept in $DIR/logs)"
fi
