#!/usr/bin/env bash
# Idempotent set-up: .venv with the pinned dependencies of pyproject.toml. (MariaDB server binaries are
# installed only when a sandbox is about to start: c7n_upgrade/throwaway_mariadb/install.py runs
# scripts/ensure-mariadb.sh.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
stamp=".venv/.c7n-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing pinned dependencies into .venv" >&2
  # a PIP_FIND_LINKS directory that does not exist makes pip warn once per package: say it once instead
  if [ -n "${PIP_FIND_LINKS:-}" ]; then
    kept=""
    set -f  # the entries are words, not patterns
    for link in $PIP_FIND_LINKS; do
      case "$link" in
        *://*) kept="$kept $link" ;;
        *) if [ -e "$link" ]; then kept="$kept $link"; else echo "setup: PIP_FIND_LINKS names $link, which does not exist: not used" >&2; fi ;;
      esac
    done
    set +f
    export PIP_FIND_LINKS="${kept# }"
    [ -n "$PIP_FIND_LINKS" ] || unset PIP_FIND_LINKS
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e . >&2
  echo "$want" > "$stamp"
fi
