"""Each rule once (issue 17): "at target" is `ReleaseView.why_not_at_target`, the settle loop is
`rollout.Streak.add`, the settle default is `rollout.SETTLE_SECONDS`. The checks below read the code
(the sandbox, its own package c7n_sandbox, is outside them) and fail on a second definition."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from c7n_upgrade import rollout
from c7n_upgrade.config.model import Timeouts
from c7n_upgrade.releases import ReleaseView
from c7n_upgrade.rollout import RolloutPolicy, Streak
from tests.unit.fakes import FakeClock

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "c7n_upgrade"


def python_files(*tops: Path) -> list[Path]:
    return [p for top in tops for p in sorted(top.rglob("*.py")) if LIBRARY / "sandbox" not in p.parents]


# ---- the rules themselves ------------------------------------------------------------------------
@pytest.mark.parametrize("view, why", [
    (ReleaseView("iam", "iam-service", "0.9.0", "deployed"), []),
    (ReleaseView("iam"), ["iam is not installed"]),
    (ReleaseView("iam", "iam-service", "0.9.0", "failed"), ["iam is failed"]),
    (ReleaseView("iam", "iam-service", "0.8.0", "deployed"), ["iam is at chart 0.8.0, expected 0.9.0"]),
    (ReleaseView("iam", "iam-service", "0.8.0", "pending-upgrade"),
     ["iam is pending-upgrade", "iam is at chart 0.8.0, expected 0.9.0"]),
])
def test_at_target_is_deployed_at_the_chart_version(view, why):
    assert view.why_not_at_target("0.9.0") == why
    assert view.at_target("0.9.0") is (why == [])


def test_on_chart_ignores_the_status_at_target_does_not():
    """Pre-flight lets a failed attempt at the target through (its step runs helm again)."""
    failed = ReleaseView("iam", "iam-service", "0.9.0", "failed")
    assert failed.on_chart("0.9.0") and not failed.at_target("0.9.0")
    assert not ReleaseView("iam").on_chart("0.9.0")


def test_a_streak_settles_after_enough_observations_over_the_window_and_restarts_on_a_flap():
    clock = FakeClock()
    streak = Streak(RolloutPolicy(timeout=60, settle_observations=3, settle_seconds=1.0), clock)
    assert [streak.add(True), streak.add(True), streak.add(True)] == [False, False, False]  # no time passed
    clock.sleep(1.0)
    assert not streak.add(False) and streak.count == 0  # a flap: start over
    clock.sleep(5.0)
    assert [streak.add(True), streak.add(True)] == [False, False]
    clock.sleep(1.0)
    assert streak.add(True) and streak.elapsed() == pytest.approx(1.0)  # counted from its first done


def test_the_env_default_is_the_policy_default():
    assert Timeouts().settle == RolloutPolicy(timeout=1).settle_seconds == rollout.SETTLE_SECONDS


# ---- one definition each ------------------------------------------------------------------------
def _functions(tree: ast.AST):
    """(qualified name, node) of every function, methods as Class.method."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((prefix + child.name, child))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def _innermost(tree: ast.AST, wanted) -> set[str]:
    """The functions holding a comparison `wanted(compare)` finds (the innermost function of each)."""
    found = {}
    for name, fn in _functions(tree):
        for node in ast.walk(fn):
            if isinstance(node, ast.Compare) and wanted(node):
                found[id(node)] = name  # later (inner) functions overwrite their outer one
    return set(found.values())


def _names(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)} | \
           {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _consts(node: ast.AST) -> set:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)}


def is_at_target_test(cmp: ast.Compare) -> bool:
    """An equality test of a status with "deployed", or of a chart version (pre-flight's `status in
    ("deployed", "failed")`, which statuses are safe to upgrade from, is another rule)."""
    equality = any(isinstance(op, (ast.Eq, ast.NotEq)) for op in cmp.ops)
    return equality and ("deployed" in _consts(cmp) or "chart_version" in _names(cmp))


def is_settle_test(cmp: ast.Compare) -> bool:
    """A comparison against the settle window's count or length."""
    return bool({"settle_observations", "settle_seconds"} & _names(cmp))


def where(paths: list[Path], wanted) -> dict[str, set[str]]:
    found = {}
    for path in paths:
        hits = _innermost(ast.parse(path.read_text(encoding="utf-8"), str(path)), wanted)
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    return found


def settle_defaults(path: Path) -> list[str]:
    """Numbers given as a default of a settle window (`settle = 10`, `settle: float = Field(10.0)`,
    `def f(settle_seconds=10)`), as "line: name"."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    named = re.compile(r"settle(_seconds|_s)?$", re.I)

    def number(value) -> bool:
        if isinstance(value, ast.Call) and value.args:  # Field(10.0, ...): its default
            value = value.args[0]
        return isinstance(value, ast.Constant) and isinstance(value.value, (int, float)) \
            and not isinstance(value.value, bool)

    out = []
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = [(node.target, node.value)]
        elif isinstance(node, ast.arguments):
            args = node.posonlyargs + node.args
            pairs = list(zip(args[len(args) - len(node.defaults):], node.defaults))
            pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults) if d is not None]
        for target, value in pairs:
            name = getattr(target, "id", None) or getattr(target, "attr", None) or getattr(target, "arg", None)
            if name and named.match(name) and number(value):
                out.append(f"{target.lineno}: {name}")
    return out


def test_at_target_is_defined_once():
    found = where(python_files(LIBRARY, ROOT / "fixtures", ROOT / "suites"), is_at_target_test)
    assert found == {"c7n_upgrade/releases.py": {"ReleaseView.why_not_at_target", "ReleaseView.on_chart"}}, found


def test_the_settle_loop_is_defined_once():
    found = where(python_files(LIBRARY, ROOT / "fixtures"), is_settle_test)
    assert found == {"c7n_upgrade/rollout.py": {"Streak.add"}}, found


def test_the_settle_default_is_defined_once():
    found = {str(p.relative_to(ROOT)): hits for p in python_files(LIBRARY, ROOT / "fixtures")
             if (hits := settle_defaults(p))}
    assert list(found) == ["c7n_upgrade/rollout.py"] and len(found["c7n_upgrade/rollout.py"]) == 1, found
    assert found["c7n_upgrade/rollout.py"][0].endswith(": SETTLE_SECONDS")


@pytest.mark.parametrize("source, wanted, expected", [
    ("def ok(v, x):\n    return v.status == 'deployed'\n", is_at_target_test, {"ok"}),
    ("class V:\n    def f(self, x):\n        return self.chart_version != x\n", is_at_target_test, {"V.f"}),
    ("def f(v):\n    return v.chart_version.startswith('0.8.')\n", is_at_target_test, set()),
    ("def f(v):\n    return v.status in ('deployed', 'failed')\n", is_at_target_test, set()),
    ("def f(n, p):\n    def g():\n        return n >= p.settle_observations\n    return g\n", is_settle_test, {"f.g"}),
    ("def f(p):\n    return p.settle_seconds / 20\n", is_settle_test, set()),
])
def test_the_checks_find_a_second_definition(source, wanted, expected):
    assert _innermost(ast.parse(source), wanted) == expected


@pytest.mark.parametrize("source, expected", [
    ("settle: float = Field(10.0, ge=0)\n", ["1: settle"]),
    ("class P:\n    settle_seconds: float = 10\n", ["2: settle_seconds"]),
    ("def f(settle_s=2.5):\n    pass\n", ["1: settle_s"]),
    ("SETTLE_SECONDS = 10.0\nsettle = Field(SETTLE_SECONDS, ge=0)\n", ["1: SETTLE_SECONDS"]),
])
def test_the_default_check_finds_a_number(tmp_path, source, expected):
    module = tmp_path / "synthetic.py"
    module.write_text(source)
    assert settle_defaults(module) == expected
