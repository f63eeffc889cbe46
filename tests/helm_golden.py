"""Real Helm 3.19.5 output samples (shared/reference, beside the repo, not in it): what the sandbox
helm must print and the parsers must read. Without that directory the tests that need one skip."""
from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "upstream-samples" / "helm-v3.19.5"


def golden(name: str) -> str:
    path = GOLDEN / name
    if not path.is_file():
        pytest.skip(f"helm golden file {name} not found under {GOLDEN} (shared/reference is outside the repo)")
    return path.read_text(encoding="utf-8")
