#!/usr/bin/env bash
# Install the Allure 2 report generator (npm package allure-commandline, pinned) project-locally
# into .tools/allure, once; print the path of its `allure` executable on stdout.
#
# Allure 2, not Allure 3: Allure 2 honours the categories.json the suite writes and has
# `generate --single-file` (since 2.24). It needs Node.js/npm to install and Java (8+) to run.
#
# Environment:
#   C7N_ALLURE_VERSION  override the pinned version (default below)
#   C7N_TOOLS_DIR       where tools go (default: <project>/.tools); must be git-ignored
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${C7N_ALLURE_VERSION:-2.46.1}"
tools="${C7N_TOOLS_DIR:-$root/.tools}"
prefix="$tools/allure"
bin="$prefix/node_modules/.bin/allure"

fail() { echo "install-allure: $*" >&2; exit 1; }

if ! command -v java >/dev/null 2>&1 && [ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; then
  fail "Java is not installed: Allure 2 runs on a JVM. Install a JRE (8 or later), e.g. 'apt-get install -y openjdk-17-jre-headless', or set JAVA_HOME."
fi

installed=""
if [ -f "$prefix/node_modules/allure-commandline/package.json" ]; then
  installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$prefix/node_modules/allure-commandline/package.json" | head -n1)"
fi
if [ -x "$bin" ] && [ "$installed" = "$version" ]; then
  echo "$bin"
  exit 0
fi

command -v npm >/dev/null 2>&1 || fail "npm is not installed: it is needed once to fetch allure-commandline@$version. Install Node.js (e.g. 'apt-get install -y nodejs npm')."
mkdir -p "$prefix"
echo "install-allure: installing allure-commandline@$version into $prefix" >&2
if ! npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
    "allure-commandline@$version" >&2; then
  fail "npm could not install allure-commandline@$version (no access to the npm registry? set npm's registry/proxy with 'npm config', or install it by hand into $prefix)."
fi
[ -x "$bin" ] || fail "allure-commandline@$version installed but $bin is missing"
echo "$bin"
