#!/usr/bin/env bash
# Build a real Consul agent from the Go module proxy for the Consul health-gate tests:
#
#   $CACHE/bin/consul-<version>/consul     the binary (skipped when it already exists)
#   $CACHE/src/consul-<version>/           the generated wrapper module (go.mod/go.sum)
#
# CACHE=${BULKHEAD_CACHE:-$HOME/.cache/bulkhead}. The last line written to stdout is the path of
# the binary; logs go to stderr.
#
# Why v1.16.3: Consul moved to the Business Source License with 1.17; some later 1.16.x patch
# releases also ship the BUSL text (v1.16.6 does) and v1.16.4/v1.16.5 are not served by the proxy.
# v1.16.3 is the last release served by the proxy whose LICENSE is MPL-2.0; the script checks the
# LICENSE of the downloaded module and refuses to build anything else.
#
# Why a wrapper module: consul's go.mod replaces its nested modules (api, sdk, proto-public,
# envoyextensions, troubleshoot) with local paths (./api, ...), which are not part of the module
# zip and are ignored in a dependency anyway. The wrapper gets one replace line per such local
# replace, generated from the release's own go.mod, pointing each nested module at the very commit
# the release was tagged from (a pseudo-version resolved by the proxy) so the sources match, or,
# when the proxy does not serve that pseudo-version, at the version the release's go.mod requires.
#
# Usage: hack/build-consul.sh [--print-bin]
#   --print-bin  print the binary's path and exit (non-zero if it is not built yet)
# Env: CONSUL_VERSION (default v1.16.3), BULKHEAD_CACHE, BULKHEAD_GOSUMDB (e.g. off).
set -euo pipefail

CONSUL_VERSION=${CONSUL_VERSION:-v1.16.3}
CACHE=${BULKHEAD_CACHE:-$HOME/.cache/bulkhead}
BIN_DIR=$CACHE/bin/consul-$CONSUL_VERSION
BIN=$BIN_DIR/consul
WRAPPER=$CACHE/src/consul-$CONSUL_VERSION
MODULE=github.com/hashicorp/consul

export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
if [[ -n ${BULKHEAD_GOSUMDB:-} ]]; then export GOSUMDB=$BULKHEAD_GOSUMDB; fi

log() { printf '[build-consul %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case ${1:-} in
  --print-bin) [[ -x $BIN ]] || die "consul $CONSUL_VERSION is not built (run hack/build-consul.sh)"; echo "$BIN"; exit 0 ;;
  -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument: $1" ;;
esac

command -v go >/dev/null || die "go not found in PATH"
command -v jq >/dev/null || die "jq not found in PATH"

if [[ -x $BIN ]]; then
  log "consul $CONSUL_VERSION already built: $BIN"
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE/bin" "$CACHE/src"
# Own lock (not the control-plane one): the two builds may run side by side.
exec 9>"$CACHE/.build-consul.lock"
if ! flock -n 9; then
  log "another consul build holds the lock; waiting"
  flock 9
fi
if [[ -x $BIN ]]; then echo "$BIN"; exit 0; fi

start=$SECONDS
log "consul $CONSUL_VERSION: downloading the module"
info=$(go mod download -json "$MODULE@$CONSUL_VERSION")
err=$(jq -r '.Error // empty' <<<"$info")
[[ -z $err ]] || die "cannot download $MODULE@$CONSUL_VERSION: $err"
src=$(jq -er .Dir <<<"$info")
gomod=$(jq -er .GoMod <<<"$info")
commit=$(jq -er '.Origin.Hash' <<<"$info" 2>/dev/null || jq -er .Info <<<"$info" | xargs cat | jq -er .Origin.Hash)
build_date=$(jq -er .Info <<<"$info" | xargs cat | jq -er .Time)

grep -q 'Mozilla Public License' "$src/LICENSE" ||
  die "$MODULE@$CONSUL_VERSION is not MPL-licensed (LICENSE: $(head -1 "$src/LICENSE")); refusing to build it"

log "consul $CONSUL_VERSION: preparing wrapper module (commit $commit)"
mkdir -p "$WRAPPER"
rm -f "$WRAPPER/go.mod" "$WRAPPER/go.sum"
(cd "$WRAPPER" && go mod init "bulkhead.local/build/consul" >/dev/null 2>&1)
(cd "$WRAPPER" && go mod edit -require="$MODULE@$CONSUL_VERSION" -tool="$MODULE")

# Local-path replaces of the release (./api ...) -> the same nested module at the release commit.
n=0
while read -r path; do
  [[ -n $path ]] || continue
  # Prefer the release commit; if the proxy does not serve that pseudo-version, fall back to the
  # version the release's go.mod requires (a tagged release of the nested module).
  if ver=$(cd "$WRAPPER" && go list -m -json "$path@$commit" 2>/dev/null | jq -er .Version); then
    how="release commit"
  else
    ver=$(go mod edit -json "$gomod" | jq -er --arg p "$path" '.Require[] | select(.Path == $p) | .Version') ||
      die "cannot resolve $path: neither commit $commit nor a required version"
    how="required by the release's go.mod; the proxy does not serve commit $commit"
  fi
  (cd "$WRAPPER" && go mod edit -replace="$path=$path@$ver")
  log "  replace $path => $path@$ver ($how)"
  n=$((n + 1))
done < <(go mod edit -json "$gomod" | jq -r '.Replace[]? | select(.New.Version == null and (.New.Path | startswith("./"))) | .Old.Path')
((n > 0)) || die "no local replace directives found in $gomod (layout changed?)"

# Replaces that point at other module versions are copied as they are (dependency replaces are
# ignored by Go, so the wrapper must restate them).
go mod edit -json "$gomod" | jq -r '
  .Replace[]? | select(.New.Version != null)
  | "\(.Old.Path)\(if .Old.Version then "@"+.Old.Version else "" end)=\(.New.Path)@\(.New.Version)"' |
  while read -r r; do (cd "$WRAPPER" && go mod edit -replace="$r"); done

# The checksum database (as reached from here) answers 404 for a few module versions the proxy
# does serve. Those paths, and only those, are exempted from the checksum database (GONOSUMDB;
# their hashes still go into go.sum) and named in the log; any other failure stops the build.
tidy_log=$CACHE/src/consul-$CONSUL_VERSION.tidy.log
for attempt in 1 2 3; do
  log "consul $CONSUL_VERSION: go mod tidy${GONOSUMDB:+ (GONOSUMDB=$GONOSUMDB)}"
  if (cd "$WRAPPER" && go mod tidy) 2>"$tidy_log"; then break; fi
  missing=$(grep -o 'verifying module: [^@ ]*@[^:]*: reading [^ ]*/lookup/[^ ]*: 404 Not Found' "$tidy_log" |
    awk '{print $3}' | cut -d@ -f1 | sort -u | paste -sd, -)
  if [[ -z $missing || $attempt == 3 ]]; then
    tail -20 "$tidy_log" >&2
    die "go mod tidy failed (full log: $tidy_log)"
  fi
  log "checksum database has no entry for: $missing (served by the proxy); exempting them"
  export GONOSUMDB=${GONOSUMDB:+$GONOSUMDB,}$missing
done

tmp=$(mktemp -d "$CACHE/bin/.consul-$CONSUL_VERSION.XXXXXX")
ld="-s -w -X $MODULE/version.GitCommit=${commit:0:12} -X $MODULE/version.BuildDate=$build_date"
log "consul $CONSUL_VERSION: compiling"
(cd "$WRAPPER" && go build -trimpath -ldflags "$ld" -o "$tmp/consul" "$MODULE")
"$tmp/consul" version >&2 || die "the built binary does not run"
rm -rf "$BIN_DIR"
mv "$tmp" "$BIN_DIR"
secs=$((SECONDS - start))
log "built consul $CONSUL_VERSION in ${secs}s -> $BIN"
printf '%s\t%s\t%s\t%ss\t%s\n' "$(date -u +%FT%TZ)" consul "$CONSUL_VERSION" "$secs" "$(go env GOVERSION)" >>"$CACHE/build-times.log"
echo "$BIN"
