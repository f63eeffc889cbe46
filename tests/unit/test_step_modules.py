"""The plan and the step modules agree: every plan step has its module (same number, same release),
the module binds the tests of the operations the plan names, in the plan's order, and no module
stands without a plan step. The checker is shown to fail on synthetic disagreements."""
from __future__ import annotations

import importlib
import re
import typing
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from c7n_upgrade.plan import PlanError, load_plan
from fixtures import step_tests

ROOT = Path(__file__).resolve().parents[2]
STEP_MODULES = ROOT / "suites" / "upgrade"
PLAN = load_plan("0.8-to-0.9", operations=step_tests.OPERATIONS)


@dataclass(frozen=True)
class ModuleFacts:
    file: str                          # test_NN_release_name.py
    marker: typing.Optional[int]       # N of pytestmark = pytest.mark.step(N)
    doc: str
    tests: tuple                       # ((name, function), ...) in definition order


def facts(path: Path) -> ModuleFacts:
    module = importlib.import_module(f"suites.upgrade.{path.stem}")
    mark = getattr(module, "pytestmark", None)
    marker = mark.args[0] if mark is not None and mark.name == "step" else None
    tests = tuple((name, value) for name, value in vars(module).items() if name.startswith("test_") and callable(value))
    return ModuleFacts(path.name, marker, module.__doc__ or "", tests)


def expected_tests(step) -> list:
    """The tests a step's module binds, in order: the plan's `before:` operations, the upgrade and its
    rollout, then its `after:` operations."""
    registry = step_tests.OPERATIONS
    return ([registry[op] for op in step.before] + [step_tests.test_upgrade, step_tests.test_rollout]
            + [registry[op] for op in step.after])


def problems(steps, modules: list[ModuleFacts]) -> list[str]:
    out = []
    by_number = {}
    for m in modules:
        found = re.fullmatch(r"test_(\d{2})_(\w+)\.py", m.file)
        if not found:
            out.append(f"{m.file}: not named test_NN_<release>.py")
            continue
        number = int(found.group(1))
        by_number[number] = m
        step = next((s for s in steps if s.number == number), None)
        if step is None:
            out.append(f"{m.file}: the plan has no step {number}")
            continue
        if found.group(2) != step.release.replace("-", "_"):
            out.append(f"{m.file}: step {number} upgrades {step.release}")
        if m.marker != number:
            out.append(f"{m.file}: marked step({m.marker}), expected step({number})")
        if step.release not in m.doc or step.version not in m.doc:
            out.append(f"{m.file}: the docstring does not name {step.release} {step.version}")
        have = [fn for _name, fn in m.tests]
        want = expected_tests(step)
        if have != want:
            out.append(f"{m.file}: binds {[f.__name__ for f in have]}, the plan names {[f.__name__ for f in want]}")
        for name, fn in m.tests:
            if name != fn.__name__:
                out.append(f"{m.file}: {name} is bound to {fn.__name__}")
    for step in steps:
        if step.number not in by_number:
            out.append(f"step {step.number} ({step.release}) has no module test_{step.number:02d}_"
                       f"{step.release.replace('-', '_')}.py")
    return out


#: the upgrade phase's modules that are not plan steps (they run before step 1)
PHASE_MODULES = {"test_00_backup.py"}


def real_modules() -> list[ModuleFacts]:
    return [facts(p) for p in sorted(STEP_MODULES.glob("test_*.py")) if p.name not in PHASE_MODULES]


def test_every_plan_step_has_its_module_and_no_module_stands_alone():
    modules = real_modules()
    assert len(modules) == len(PLAN.steps) == 16
    assert problems(PLAN.steps, modules) == []


def test_the_registry_holds_one_test_per_kind_and_the_plan_uses_only_its_kinds():
    tests = list(step_tests.OPERATIONS.values())
    assert all(fn.__name__.startswith("test_") for fn in tests)
    names = [fn.__name__ for fn in tests] + ["test_upgrade", "test_rollout"]
    assert len(set(names)) == len(names)  # each binds under its own name
    used = {k for s in PLAN.steps for k in s.operations}
    assert used == set(step_tests.OPERATIONS)  # no kind the plan never runs


def test_the_order_of_a_steps_tests_comes_from_the_plan():
    step = PLAN.step(11)
    assert [f.__name__ for f in step_tests.tests_of(step)] == [
        "test_crd", "test_gitlab_ssh", "test_upgrade", "test_rollout", "test_smooth_upgrade"]
    swapped = step.model_copy(update={"before": ["gitlab-ssh"], "after": ["devops-smooth-upgrade", "crd"]})
    namespace = {}
    step_tests.bind_step(namespace, 11, plan=PLAN.model_copy(update={"steps": [swapped]}))
    assert list(namespace) == ["test_gitlab_ssh", "test_upgrade", "test_rollout", "test_smooth_upgrade", "test_crd"]


def test_a_plan_naming_an_unknown_operation_or_lacking_what_one_needs_is_refused(tmp_path):
    text = (ROOT / "plans" / "0.8-to-0.9.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("after: [front, oauth-client]", "after: [front, oauth-clients]"), encoding="utf-8")
    assert load_plan(bad).step(16).after == ["front", "oauth-clients"]  # no registry given: shape only
    with pytest.raises(PlanError, match="step 16 names the operation 'oauth-clients'; the known ones: crd, "):
        load_plan(bad, operations=step_tests.OPERATIONS)
    for old, new, refusal in [
            ("after: [front, oauth-client]", "special: [oauth-client]", "'special' is gone: list the step's operations"),
            ("after: [front, oauth-client]", "after: [front, front]", "step 16 names the operation 'front' twice"),
            ("after: [front, oauth-client]", "after: [oauth-client]", "'check: front' and the operation 'front' go"),
            ("    database: notify_service\n", "", "'database: NAME' and the operation 'database' go together"),
            ("after: [devops-smooth-upgrade]", "after: [Smooth_Upgrade]", "operation 'Smooth_Upgrade': expected a kind")]:
        assert old in text
        bad.write_text(text.replace(old, new), encoding="utf-8")
        with pytest.raises(PlanError, match=refusal):
            load_plan(bad)
    bad.write_text(text.replace("database: notify_service", 'database: "notify`; DROP DATABASE x; --"'), encoding="utf-8")
    with pytest.raises(PlanError, match="expected letters, digits and '_'"):  # a name that goes into SQL
        load_plan(bad)
    no_crd = tmp_path / "no-crd.yaml"
    cut = text.split("crd:\n", 1)
    rest = cut[1].split("# Evidence", 1)[1]
    no_crd.write_text(cut[0] + "# Evidence" + rest, encoding="utf-8")
    with pytest.raises(PlanError, match="step 11 names the operation 'crd' and the plan has no 'crd:'"):
        load_plan(no_crd)


# ---- the checker fails when plan and modules disagree -------------------------------------------

def _with(modules, file, **changes):
    return [replace(m, **changes) if m.file == file else m for m in modules]


def test_checker_sees_a_step_without_module_and_a_module_without_step():
    modules = [m for m in real_modules() if not m.file.startswith("test_07_")]
    assert problems(PLAN.steps, modules) == ["step 7 (api-gateway) has no module test_07_api_gateway.py"]
    steps = [s for s in PLAN.steps if s.number != 7]
    assert problems(steps, real_modules()) == ["test_07_api_gateway.py: the plan has no step 7"]


def test_checker_sees_a_wrong_release_number_or_version():
    steps = [s.model_copy(update={"release": "gateway"}) if s.number == 7 else s for s in PLAN.steps]
    assert "test_07_api_gateway.py: step 7 upgrades gateway" in problems(steps, real_modules())
    modules = _with(real_modules(), "test_07_api_gateway.py", marker=8)
    assert problems(PLAN.steps, modules) == ["test_07_api_gateway.py: marked step(8), expected step(7)"]
    steps = [s.model_copy(update={"version": "0.9.9"}) if s.number == 7 else s for s in PLAN.steps]
    assert problems(steps, real_modules()) == ["test_07_api_gateway.py: the docstring does not name api-gateway 0.9.9"]


def test_checker_sees_a_missing_operation_an_extra_test_and_a_wrong_order():
    steps = [s.model_copy(update={"before": ["crd"]}) if s.number == 7 else s for s in PLAN.steps]
    assert problems(steps, real_modules()) == [
        "test_07_api_gateway.py: binds ['test_upgrade', 'test_rollout'], "
        "the plan names ['test_crd', 'test_upgrade', 'test_rollout']"]
    m11 = next(m for m in real_modules() if m.file.startswith("test_11_"))
    swapped = (m11.tests[2], m11.tests[0], m11.tests[1], *m11.tests[3:])  # the upgrade before the CRD
    assert len(problems(PLAN.steps, _with(real_modules(), m11.file, tests=swapped))) == 1
    extra = (*m11.tests, ("test_eureka", step_tests.test_eureka))
    assert len(problems(PLAN.steps, _with(real_modules(), m11.file, tests=extra))) == 1


def test_checker_sees_a_test_bound_to_another_function():
    m1 = next(m for m in real_modules() if m.file.startswith("test_01_"))
    wrong = (m1.tests[0], m1.tests[1], ("test_eureka", step_tests.test_front_page))
    found = problems(PLAN.steps, _with(real_modules(), m1.file, tests=wrong))
    assert "test_01_register_server.py: test_eureka is bound to test_front_page" in found

