"""A new operation kind is one registry entry (and its code under c7n_upgrade/operations/) plus the plan
naming it: a made-up kind runs where the plan puts it, the plan check still holds, nothing else changes."""
from __future__ import annotations

from pathlib import Path

import pytest

from c7n_upgrade.plan import PlanError, load_plan
from fixtures import step_tests
from tests.unit.test_step_modules import PLAN, ModuleFacts, problems, real_modules

ROOT = Path(__file__).resolve().parents[2]
RAN = []


def _made_up_check():
    """The made-up kind's test: records that it ran."""
    RAN.append("made-up")


_made_up_check.__name__ = "test_made_up_check"  # a step test's name (this file's pytest does not collect it)


@pytest.fixture
def made_up_kind(monkeypatch, tmp_path):
    """The registry with one more entry, and a plan whose step 5 runs it between its database and helm."""
    monkeypatch.setitem(step_tests.OPERATIONS, "made-up", _made_up_check)
    text = (ROOT / "plans" / "0.8-to-0.9.yaml").read_text(encoding="utf-8")
    path = tmp_path / "made-up.yaml"
    path.write_text(text.replace("database: notify_service\n    before: [database]",
                                 "database: notify_service\n    before: [database, made-up]"), encoding="utf-8")
    RAN.clear()
    return path


def test_a_made_up_kind_is_refused_until_the_registry_has_it(tmp_path):
    text = (ROOT / "plans" / "0.8-to-0.9.yaml").read_text(encoding="utf-8")
    path = tmp_path / "made-up.yaml"
    path.write_text(text.replace("before: [database]", "before: [database, made-up]", 1), encoding="utf-8")
    with pytest.raises(PlanError, match="step 5 names the operation 'made-up'"):
        load_plan(path, operations=step_tests.OPERATIONS)


def test_a_made_up_kind_runs_where_the_plan_declares_it(made_up_kind, tmp_path):
    plan = load_plan(made_up_kind, operations=step_tests.OPERATIONS)
    module = tmp_path / "test_05_notify_service.py"  # a step module as the suite writes them
    module.write_text(
        '"""Step 5: notify-service 0.9.0."""\n'
        "from c7n_upgrade.plan import load_plan\n"
        "from fixtures import step_tests as t\n\n"
        f"t.bind_step(globals(), 5, plan=load_plan({str(made_up_kind)!r}))\n", encoding="utf-8")
    collected = []

    class Record:
        @pytest.hookimpl(tryfirst=True)
        def pytest_collection_modifyitems(self, items):
            collected.extend(item.name for item in items)

    # pytest in-process: collect the module, run only the made-up test (the others need a cluster)
    code = pytest.main([str(module), "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                        "--rootdir", str(tmp_path), "-k", "made_up"], plugins=[Record()])
    assert collected == ["test_database", "test_made_up_check", "test_upgrade", "test_rollout"]
    assert code == pytest.ExitCode.OK and RAN == ["made-up"]
    # the plan check holds for the step bound from that plan, and sees the kind missing elsewhere
    namespace = {}
    step_tests.bind_step(namespace, 5, plan=plan)
    five = ModuleFacts("test_05_notify_service.py", 5, "notify-service 0.9.0", tuple(namespace.items()))
    modules = [five if m.file == five.file else m for m in real_modules()]
    assert problems(plan.steps, modules) == []
    assert problems(plan.steps, real_modules()) == [
        "test_05_notify_service.py: binds ['test_database', 'test_upgrade', 'test_rollout'], "
        "the plan names ['test_database', 'test_made_up_check', 'test_upgrade', 'test_rollout']"]
    assert problems(PLAN.steps, real_modules()) == []  # the real plan and modules untouched
