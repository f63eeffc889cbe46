#!/usr/bin/env bash
# Build the real Kubernetes control plane the sandbox runs, once per machine, from Go modules:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (controlplane/kubernetes/go.mod)
#   etcd                                                           (controlplane/etcd/go.mod)
# and, with --helm2, Helm 2's client and Tiller                    (controlplane/helm2/go.mod)
# into a cache keyed by version, outside the repo:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/c7n-upgrade/kubernetes-<version>-etcd-<version>/bin/
#   ${XDG_CACHE_HOME:-$HOME/.cache}/c7n-upgrade/helm-<version>/bin/                 (--helm2)
# A binary already there is not built again. Prints progress on stderr and the bin directory on stdout.
#
#   scripts/build-control-plane.sh [--helm2]            build what is missing, print the bin directory
#   scripts/build-control-plane.sh [--helm2] --print    print the bin directory only (nothing is built)
#
# Needs Go (>= the go line of the go.mod files) and the Go module proxy (or a filled module cache).
# Environment: C7N_CONTROL_PLANE_CACHE  the cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/c7n-upgrade)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kube_mod="$root/controlplane/kubernetes"
etcd_mod="$root/controlplane/etcd"
helm2_mod="$root/controlplane/helm2"
helm2=false
if [ "${1:-}" = "--helm2" ]; then helm2=true; shift; fi

fail() { echo "build-control-plane: $*" >&2; exit 1; }
say() { echo "build-control-plane: $*" >&2; }

# The versions come from the go.mod files: one place to change a release.
required() {  # required MODULE GO.MOD: the version GO.MOD requires MODULE at (a require line or block)
  awk -v m="$1" '$1=="require" && $2==m {print $3; exit} $1==m && $2 ~ /^v/ {print $2; exit}' "$2"
}
k8s_version="$(required k8s.io/kubernetes "$kube_mod/go.mod")"
etcd_version="$(required go.etcd.io/etcd/server/v3 "$etcd_mod/go.mod")"
[ -n "$k8s_version" ] || fail "no 'require k8s.io/kubernetes vX' line in $kube_mod/go.mod"
[ -n "$etcd_version" ] || fail "no 'require go.etcd.io/etcd/server/v3 vX' line in $etcd_mod/go.mod"

helm2_version="$(required k8s.io/helm "$helm2_mod/go.mod")"
helm2_version="${helm2_version%+incompatible}"
[ -n "$helm2_version" ] || fail "no 'require k8s.io/helm vX' line in $helm2_mod/go.mod"

cache="${C7N_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/c7n-upgrade}"
bin="$cache/kubernetes-$k8s_version-etcd-$etcd_version/bin"
if $helm2; then bin="$cache/helm-$helm2_version/bin"; fi
if [ "${1:-}" = "--print" ]; then echo "$bin"; exit 0; fi

command -v go >/dev/null 2>&1 || fail "Go is not installed: the control plane is built from Go modules (install Go >= 1.24)"
mkdir -p "$bin"
# One build at a time per cache: a second caller waits, then finds the binaries built.
exec 9>"$bin/.build.lock"
if ! flock -n 9; then say "another build into $bin is running; waiting for it"; flock 9; fi

export CGO_ENABLED=0

# go build -v names each package as it compiles it, and go names each module it downloads: show the
# counts every 100 packages or 50 modules so a long first build visibly moves; the full log stays in
# $bin/build-NAME.log and its tail is shown when the build fails.
build() {  # build NAME MODULE_DIR LDFLAGS PACKAGE...
  local log="$bin/build-$1.log" dir="$2" ldflags="$3"; shift 3
  local started=$SECONDS
  (cd "$dir" && go build -v -trimpath -ldflags "$ldflags" -o "$bin/" "$@") >"$log" 2>&1 &
  local pid=$! last=0 lastd=0 n d
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    n=$(grep -c '^[a-zA-Z0-9._/-]*$' "$log" 2>/dev/null || true)
    d=$(grep -c '^go: downloading ' "$log" 2>/dev/null || true)
    if [ "${n:-0}" -ge $((last + 100)) ] || [ "${d:-0}" -ge $((lastd + 50)) ]; then
      last=${n:-0} lastd=${d:-0}
      say "  … ${d:-0} modules downloaded, ${n:-0} packages compiled ($((SECONDS - started)) s)"
    fi
  done
  if ! wait "$pid"; then
    tail -n 30 "$log" >&2
    fail "go build of $* failed (full log: $log)"
  fi
  say "  built in $((SECONDS - started)) s"
}

if $helm2; then
  # The commit of the v2.17.0 tag, as the release binaries report it (the module zip has no VCS data).
  pkg=k8s.io/helm/pkg/version
  ldflags="-s -w -X $pkg.Version=$helm2_version -X $pkg.BuildMetadata= -X $pkg.GitTreeState=clean"
  [ "$helm2_version" != v2.17.0 ] || ldflags+=" -X $pkg.GitCommit=a690bad98af45b015bd3da1a41f6218b1a451dbe"
  if [ ! -x "$bin/helm" ] || [ ! -x "$bin/tiller" ]; then
    say "building Helm $helm2_version (helm, tiller) into $bin"
    say "  (the first build on a machine downloads ~100 modules and compiles ~860 packages: about 5 min on 2 cores)"
    build helm2 "$helm2_mod" "$ldflags" k8s.io/helm/cmd/helm k8s.io/helm/cmd/tiller
  fi
  for cmd in helm tiller; do [ -x "$bin/$cmd" ] || fail "$bin/$cmd is missing after the build"; done
  echo "$bin"
  exit 0
fi

missing=()
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$bin/$cmd" ] || missing+=("k8s.io/kubernetes/cmd/$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  minor="${k8s_version#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  say "building Kubernetes $k8s_version (${missing[*]##*/}) into $bin"
  say "  (the first build on a machine downloads the modules and compiles ~2,500 packages: about 8-10 min on 2 cores)"
  build kubernetes "$kube_mod" "$ldflags" "${missing[@]}"
fi

if [ ! -x "$bin/etcd" ]; then
  say "building etcd $etcd_version into $bin"
  build etcd "$etcd_mod" "-s -w" .
fi

for cmd in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$bin/$cmd" ] || fail "$bin/$cmd is missing after the build"
done
echo "$bin"
