#!/usr/bin/env bash
# Build a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), KWOK and Helm from the Go module proxy into a cache that
# lives outside the clone:
#
#   $CACHE/bin/<component>-<version>/<binary>     one directory per component+version
#   $CACHE/bin/set-<etcd>_<kube>_<kwok>_<helm>/   symlink farm with every binary
#   $CACHE/src/<component>-<version>/             generated wrapper modules (go.mod/go.sum)
#
# CACHE=${BULKHEAD_CACHE:-$HOME/.cache/bulkhead}. Versions are pinned in hack/versions.env.
# KWOK is compiled from a copy of its module source with hack/kwok/kwok-<version>-*.patch
# applied (KWOK_PATCH_LEVEL > 0; cache name <version>-bulkhead.<level>); a patch that does
# not apply exactly fails the build.
# A component whose binaries already exist is skipped, so a warm rerun takes seconds.
# The last line written to stdout is the bin (symlink farm) directory; logs go to stderr.
#
# Usage: hack/build-control-plane.sh [--print-bin-dir] [component ...]
#   components: etcd kube kwok helm (default: all four); rollout-operator (the benchmark's
#   peer, grafana/rollout-operator; built only when named, by hack/bench.sh)
#   --print-bin-dir  print the bin dir and exit (non-zero if something is not built yet)
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"

CACHE=${BULKHEAD_CACHE:-$HOME/.cache/bulkhead}
export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# Module downloads are verified against sum.golang.org by default. If the checksum
# database is unreachable, rerun with BULKHEAD_GOSUMDB=off (go.sum is still written).
if [[ -n ${BULKHEAD_GOSUMDB:-} ]]; then export GOSUMDB=$BULKHEAD_GOSUMDB; fi

ALL_COMPONENTS=(etcd kube kwok helm)
BIN_ROOT=$CACHE/bin
SRC_ROOT=$CACHE/src
# KWOK built with our patches (hack/kwok/*.patch) gets its own cache name.
KWOK_BUILD=$KWOK_VERSION
if ((${KWOK_PATCH_LEVEL:-0} > 0)); then KWOK_BUILD=$KWOK_VERSION-bulkhead.$KWOK_PATCH_LEVEL; fi
SET_DIR=$BIN_ROOT/set-${ETCD_VERSION}_${KUBE_VERSION}_${KWOK_BUILD}_${HELM_VERSION}
TIMES_LOG=$CACHE/build-times.log

log() { printf '[build-control-plane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "go not found in PATH"
command -v jq >/dev/null || die "jq not found in PATH"

# component -> "version binary..."
component_version() {
  case $1 in
    etcd) echo "$ETCD_VERSION" ;;
    kube) echo "$KUBE_VERSION" ;;
    kwok) echo "$KWOK_BUILD" ;;
    # Helm's offline default Kubernetes version (helm template, kubeVersion checks) is baked
    # in by ldflags, so the Kubernetes version is part of its cache key.
    helm) echo "${HELM_VERSION}_kube${KUBE_VERSION}" ;;
    rollout-operator) echo "$ROLLOUT_OPERATOR_VERSION" ;;
    *) die "unknown component: $1" ;;
  esac
}
component_binaries() {
  case $1 in
    etcd) echo "etcd" ;;
    kube) echo "kube-apiserver kube-controller-manager kube-scheduler kubectl" ;;
    kwok) echo "kwok" ;;
    helm) echo "helm" ;;
    rollout-operator) echo "rollout-operator" ;;
  esac
}
component_dir() { echo "$BIN_ROOT/$1-$(component_version "$1")"; }

is_built() {
  local c=$1 dir b
  dir=$(component_dir "$c")
  for b in $(component_binaries "$c"); do
    [[ -x $dir/$b ]] || return 1
  done
}

# Info about a module version from the proxy: prints the path of the downloaded .mod file.
module_gomod() { go mod download -json "$1@$2" | jq -er .GoMod; }
# Commit time of a module version (RFC 3339), used as a reproducible build date.
module_time() { go mod download -json "$1@$2" | jq -er '.Info' | xargs cat | jq -er .Time; }

# Copy a dependency's replace directives that point at other modules (not local paths)
# into the wrapper, since replace directives of dependencies are ignored by Go.
copy_module_replaces() {
  local wrapper=$1 depmod=$2
  go mod edit -json "$depmod" | jq -r '
    .Replace[]? | select(.New.Version != null)
    | "\(.Old.Path)\(if .Old.Version then "@"+.Old.Version else "" end)=\(.New.Path)@\(.New.Version)"' |
    while read -r r; do (cd "$wrapper" && go mod edit -replace="$r"); done
}

# Create (or refresh) a wrapper module that requires $mod@$ver and lists $pkgs as tools.
prepare_wrapper() {
  local name=$1 mod=$2 ver=$3; shift 3
  local wrapper=$SRC_ROOT/$name
  mkdir -p "$wrapper"
  rm -f "$wrapper/go.mod" "$wrapper/go.sum"
  (cd "$wrapper" && go mod init "bulkhead.local/build/$name" >/dev/null 2>&1)
  (cd "$wrapper" && go mod edit -require="$mod@$ver")
  local p
  for p in "$@"; do (cd "$wrapper" && go mod edit -tool="$p"); done
  echo "$wrapper"
}

finish_component() {
  local c=$1 tmp=$2 start=$3 dir
  dir=$(component_dir "$c")
  chmod 755 "$tmp"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  local secs=$((SECONDS - start))
  log "built $c $(component_version "$c") in ${secs}s -> $dir"
  printf '%s\t%s\t%s\t%ss\t%s\n' "$(date -u +%FT%TZ)" "$c" "$(component_version "$c")" "$secs" "$(go env GOVERSION)" >>"$TIMES_LOG"
}

build_etcd() {
  local start=$SECONDS ver=$ETCD_VERSION
  local wrapper=$SRC_ROOT/etcd-$ver tmp
  log "etcd $ver: preparing wrapper module"
  mkdir -p "$wrapper"
  rm -f "$wrapper/go.mod" "$wrapper/go.sum"
  cat >"$wrapper/main.go" <<'EOF'
// Command etcd is a thin wrapper around etcd's own entry point, so that etcd can be
// built from the Go module proxy at a pinned version.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
EOF
  (cd "$wrapper" && go mod init bulkhead.local/build/etcd >/dev/null 2>&1)
  (cd "$wrapper" && go mod edit -require="go.etcd.io/etcd/server/v3@$ver")
  copy_module_replaces "$wrapper" "$(module_gomod go.etcd.io/etcd/server/v3 "$ver")"
  (cd "$wrapper" && go mod tidy)
  tmp=$(mktemp -d "$BIN_ROOT/.etcd-$ver.XXXXXX")
  log "etcd $ver: compiling"
  (cd "$wrapper" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" .)
  finish_component etcd "$tmp" "$start"
}

build_kube() {
  local start=$SECONDS ver=$KUBE_VERSION
  local staging_ver=v0.${ver#v1.}
  local name=kube-$ver tmp gomod
  local pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  log "kube $ver: preparing wrapper module (staging modules at $staging_ver)"
  gomod=$(module_gomod k8s.io/kubernetes "$ver")
  local wrapper
  wrapper=$(prepare_wrapper "$name" k8s.io/kubernetes "$ver" "${pkgs[@]}")
  # Generate the replace lines from the release's own go.mod: every k8s.io/* module that
  # Kubernetes requires at v0.0.0 is a staging module; point it at the matching v0.X.Y tag.
  local staging
  staging=$(go mod edit -json "$gomod" |
    jq -r '.Require[] | select(.Version == "v0.0.0" and (.Path | startswith("k8s.io/"))) | .Path')
  [[ -n $staging ]] || die "no k8s.io/* v0.0.0 requirements found in $gomod"
  local m n=0
  for m in $staging; do
    (cd "$wrapper" && go mod edit -replace="$m=$m@$staging_ver")
    n=$((n + 1))
  done
  log "kube $ver: generated $n staging replace directives"
  copy_module_replaces "$wrapper" "$gomod"
  (cd "$wrapper" && go mod tidy)

  local major=${ver#v}; major=${major%%.*}
  local minor=${ver#v*.}; minor=${minor%%.*}
  local date; date=$(module_time k8s.io/kubernetes "$ver")
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  tmp=$(mktemp -d "$BIN_ROOT/.kube-$ver.XXXXXX")
  log "kube $ver: compiling ${pkgs[*]##*/} (one go build invocation)"
  (cd "$wrapper" && go build -trimpath -tags providerless -ldflags "$ld" -o "$tmp/" "${pkgs[@]}")
  finish_component kube "$tmp" "$start"
}

build_kwok() {
  local start=$SECONDS ver=$KWOK_VERSION tmp gomod wrapper
  log "kwok $ver: preparing wrapper module"
  gomod=$(module_gomod sigs.k8s.io/kwok "$ver")
  wrapper=$(prepare_wrapper "kwok-$KWOK_BUILD" sigs.k8s.io/kwok "$ver" sigs.k8s.io/kwok/cmd/kwok)
  copy_module_replaces "$wrapper" "$gomod"
  local patches=() p
  if ((${KWOK_PATCH_LEVEL:-0} > 0)); then
    patches=("$HACK_DIR"/kwok/kwok-"$ver"-*.patch)
    [[ -e ${patches[0]} ]] || die "KWOK_PATCH_LEVEL=$KWOK_PATCH_LEVEL but no hack/kwok/kwok-$ver-*.patch"
  fi
  if ((${#patches[@]})); then
    # The module cache is read-only: patch a copy of the source and build the wrapper against it.
    local src=$wrapper/kwok-src dir
    dir=$(go mod download -json "sigs.k8s.io/kwok@$ver" | jq -er .Dir)
    rm -rf "$src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    for p in "${patches[@]}"; do
      log "kwok $ver: applying ${p#"$HACK_DIR"/}"
      # --fuzz=0: a patch that no longer applies exactly must fail the build, not half-apply.
      patch -d "$src" -p1 --forward --fuzz=0 --no-backup-if-mismatch <"$p" >&2 ||
        die "patch ${p#"$HACK_DIR"/} does not apply to sigs.k8s.io/kwok@$ver"
    done
    (cd "$wrapper" && go mod edit -replace="sigs.k8s.io/kwok=./kwok-src")
  fi
  (cd "$wrapper" && go mod tidy)
  local ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_BUILD#v}"
  tmp=$(mktemp -d "$BIN_ROOT/.kwok-$KWOK_BUILD.XXXXXX")
  log "kwok $KWOK_BUILD: compiling"
  (cd "$wrapper" && go build -trimpath -ldflags "$ld" -o "$tmp/" sigs.k8s.io/kwok/cmd/kwok)
  finish_component kwok "$tmp" "$start"
}

build_helm() {
  local start=$SECONDS ver=$HELM_VERSION tmp gomod wrapper
  log "helm $ver: preparing wrapper module"
  gomod=$(module_gomod helm.sh/helm/v3 "$ver")
  wrapper=$(prepare_wrapper "helm-$ver" helm.sh/helm/v3 "$ver" helm.sh/helm/v3/cmd/helm)
  copy_module_replaces "$wrapper" "$gomod"
  (cd "$wrapper" && go mod tidy)
  local kube_minor=${KUBE_VERSION#v1.}
  kube_minor=${kube_minor%%.*}
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$ver -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kube_minor"
  tmp=$(mktemp -d "$BIN_ROOT/.helm-$ver.XXXXXX")
  log "helm $ver: compiling"
  (cd "$wrapper" && go build -trimpath -ldflags "$ld" -o "$tmp/" helm.sh/helm/v3/cmd/helm)
  finish_component helm "$tmp" "$start"
}

# The benchmark's peer, not part of the control plane: it stays out of the set directory.
build_rollout-operator() {
  local start=$SECONDS ver=$ROLLOUT_OPERATOR_VERSION tmp gomod wrapper mod=github.com/grafana/rollout-operator
  log "rollout-operator $ver: preparing wrapper module"
  gomod=$(module_gomod "$mod" "$ver") ||
    die "cannot download $mod@$ver: $(go mod download -json "$mod@$ver" | jq -r '.Error // "?"' | sed -E 's#reading [a-z]+://[^ ]+: ##' | head -n1)"
  wrapper=$(prepare_wrapper "rollout-operator-$ver" "$mod" "$ver" "$mod/cmd/rollout-operator")
  copy_module_replaces "$wrapper" "$gomod"
  (cd "$wrapper" && go mod tidy)
  tmp=$(mktemp -d "$BIN_ROOT/.rollout-operator-$ver.XXXXXX")
  log "rollout-operator $ver: compiling"
  (cd "$wrapper" && go build -trimpath -ldflags "-s -w" -o "$tmp/" "$mod/cmd/rollout-operator")
  finish_component rollout-operator "$tmp" "$start"
}

link_set() {
  mkdir -p "$SET_DIR"
  local c b
  for c in "${ALL_COMPONENTS[@]}"; do
    is_built "$c" || continue
    for b in $(component_binaries "$c"); do
      ln -sfn "$(component_dir "$c")/$b" "$SET_DIR/$b"
    done
  done
}

print_only=0
components=()
while (($#)); do
  case $1 in
    --print-bin-dir) print_only=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    etcd | kube | kwok | helm | rollout-operator) components+=("$1") ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
((${#components[@]})) || components=("${ALL_COMPONENTS[@]}")

if ((print_only)); then
  for c in "${components[@]}"; do is_built "$c" || die "$c $(component_version "$c") is not built"; done
  link_set
  echo "$SET_DIR"
  exit 0
fi

mkdir -p "$BIN_ROOT" "$SRC_ROOT"
all_built=1
for c in "${components[@]}"; do is_built "$c" || all_built=0; done
if ((all_built)); then
  # Fast path (no lock): nothing to build.
  link_set
  log "${components[*]} already built; bin dir: $SET_DIR"
  echo "$SET_DIR"
  exit 0
fi
# One builder at a time per cache (parallel test runs may all call this script).
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  log "another build holds $CACHE/.build.lock; waiting"
  flock 9
fi

total_start=$SECONDS
for c in "${components[@]}"; do
  if is_built "$c"; then
    log "$c $(component_version "$c") already built, skipping"
    continue
  fi
  log "building $c $(component_version "$c") with $(go env GOVERSION)"
  "build_$c"
done
rm -rf "$BIN_ROOT"/.*.?????? 2>/dev/null || true
link_set
log "done in $((SECONDS - total_start))s; bin dir: $SET_DIR"
echo "$SET_DIR"
