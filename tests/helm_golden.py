"""Real Helm 3.19.5 output samples, in the repo (tests/golden/helm-v3.19.5/, see its README): what the
sandbox helm must print and the parsers must read. A missing one fails the test that needs it."""
from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden" / "helm-v3.19.5"


def golden(name: str) -> str:
    path = GOLDEN / name
    if not path.is_file():
        pytest.fail(f"helm golden file {name} is missing from {GOLDEN}: copy it from helm v3.19.5's "
                    "cmd/helm/testdata/output/ (see the README there)", pytrace=False)
    return path.read_text(encoding="utf-8")
