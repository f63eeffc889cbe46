"""No library, sandbox, plugin or test file over 500 lines (issue 17): a longer one is split by topic."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 500
PLACES = ("c7n_upgrade", "fixtures", "suites", "tests")


def too_long(root: Path = ROOT, limit: int = LIMIT) -> dict[str, int]:
    sizes = {str(p.relative_to(root)): len(p.read_text(encoding="utf-8").splitlines())
             for place in PLACES for p in sorted((root / place).rglob("*.py"))}
    return {name: n for name, n in sizes.items() if n > limit}


def test_no_file_is_over_the_limit():
    assert len(list((ROOT / "tests").rglob("test_*.py"))) > 50  # the walk found the tests
    assert not too_long(), f"over {LIMIT} lines, split by topic: {too_long()}"


def test_the_check_sees_a_long_file(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_long.py").write_text("x = 1\n" * (LIMIT + 1))
    (tmp_path / "tests" / "test_ok.py").write_text("x = 1\n" * LIMIT)
    assert too_long(tmp_path) == {"tests/test_long.py": LIMIT + 1}
