"""The real tools the project's tests drive, installed on demand into .tools/ by
scripts/install-test-tool.sh. A tool that cannot be installed fails the test that needs it."""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALLER = ROOT / "scripts" / "install-test-tool.sh"


@functools.lru_cache(maxsize=None)
def _install(name: str) -> str:
    result = subprocess.run(["bash", str(INSTALLER), name], capture_output=True, text=True, timeout=600)
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"scripts/install-test-tool.sh {name} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def real_tool(name: str) -> Path:
    """Path of the installed tool (helm, kubectl-1.20, gitlab-ci-local, actionlint)."""
    try:
        return Path(_install(name))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(str(exc), pytrace=False)
