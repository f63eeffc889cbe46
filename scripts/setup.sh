#!/usr/bin/env bash
# Idempotent set-up: .venv with the pinned dependencies of pyproject.toml. (MariaDB server binaries are
# installed only when a sandbox is about to start: fixtures/mariadb.py runs scripts/ensure-mariadb.sh.)
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
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e . >&2
  echo "$want" > "$stamp"
fi
