"""The plugin's gate hooks (fixtures/plugin.py) run by pytest itself, in-process (`pytester`), over a tiny
fake suite tree: a failed step blocks the later ones, a cause every later test would meet stops them,
an interrupt leaves the gate interrupted in the middle of its test, the CI guard speaks for the proof.
The run's context is a real `Context` over a stand-in for the clients (no env, no cluster)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import c7n_upgrade.helm  # noqa: F401 (imported now: its import looks for libc with a child process)
from c7n_upgrade.plan import DEFAULT_PLAN, load_plan
from c7n_upgrade.redact import Redactor
from fixtures import context, plugin
from fixtures.context import CTX_KEY, Context
from fixtures.gate import State

pytest_plugins = ["pytester"]

PLAN = load_plan(DEFAULT_PLAN)
#: the hooks under test, registered as one plugin (the module's pytest_configure would load an env)
HOOKS = ("pytest_collection_modifyitems", "pytest_runtest_setup", "pytest_runtest_protocol",
         "pytest_runtest_makereport", "pytest_pyfunc_call", "pytest_sessionfinish")


class _Run:
    """Hands the inner session its context, as the plugin's pytest_configure does."""

    def __init__(self, ctx):
        self.ctx = ctx

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "step(number, release): an upgrade step")
        config.stash[CTX_KEY] = self.ctx


def _ctx(*, dry_run=False, allowed=True) -> Context:
    settings = SimpleNamespace(env_name="fake", namespace="ns", source="envs/fake.yaml", kubeconfig="")
    return Context(clients=SimpleNamespace(settings=settings, redactor=Redactor()), env_path=Path("envs/fake.yaml"),
                   plan=PLAN, lang="en", dry_run=dry_run, upgrade_allowed=allowed,
                   upgrade_skip_reason="" if allowed else "CI=true: the upgrade phase does not run in CI",
                   named_phases={"pre_upgrade", "upgrade", "post_upgrade"})


def _step(number: int, rollout: str = "pass") -> str:
    return (f"import pytest\npytestmark = pytest.mark.step({number}, {PLAN.step(number).release!r})\n"
            f"def test_upgrade():\n    pass\ndef test_rollout():\n    {rollout}\n")


def _run(pytester, monkeypatch, ctx, *, check="pass", step1="pass", step2="pass"):
    """pre-upgrade check, steps 1 to 3, one proof; returns {test: outcome text} in the order they ran."""
    monkeypatch.setattr(context, "SUITES", pytester.path / "suites")  # phase_of() reads the fake tree
    for path, text in {"pre_upgrade/test_checks.py": f"def test_check():\n    {check}\n",
                       "upgrade/test_01_a.py": _step(1, step1), "upgrade/test_02_b.py": _step(2, step2),
                       "upgrade/test_03_c.py": _step(3), "post_upgrade/test_proof.py": "def test_proof():\n    pass\n"
                       }.items():
        (pytester.path / "suites" / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / "suites" / path).write_text(text, encoding="utf-8")
    hooks = type("Hooks", (), {name: staticmethod(getattr(plugin, name)) for name in HOOKS})()
    recorder = pytester.inline_run("suites", "-p", "no:randomly", "-p", "no:cacheprovider", plugins=[_Run(ctx), hooks],
                                 no_reraise_ctrlc=True)
    seen = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        name = report.nodeid.split("/", 1)[-1]
        if report.skipped:
            seen[name] = "skipped: " + str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.failed or report.when == "call":
            seen[name] = report.outcome
    return seen


STEP2 = ("upgrade/test_02_b.py::test_upgrade", "upgrade/test_02_b.py::test_rollout")


def test_a_failed_step_blocks_every_later_step_and_the_proof(pytester, monkeypatch):
    ctx = _ctx()
    seen = _run(pytester, monkeypatch, ctx, step1="assert False, 'pods not ready'")
    assert list(seen)[:3] == ["pre_upgrade/test_checks.py::test_check", "upgrade/test_01_a.py::test_upgrade",
                              "upgrade/test_01_a.py::test_rollout"]  # ordered by phase, then step
    assert seen["upgrade/test_01_a.py::test_rollout"] == "failed"
    for test in (*STEP2, "upgrade/test_03_c.py::test_rollout"):
        assert seen[test] == "skipped: blocked by step 1 (pods not ready)", test
    assert seen["post_upgrade/test_proof.py::test_proof"] == \
        "skipped: blocked by step 1 (pods not ready): the upgrade did not complete"
    assert ctx.gate.state is State.BLOCKED and ctx.gate.blocked.by == "step 1"
    assert [(line.number, line.status) for line in ctx.results.outcome.lines] == [
        (1, "failed"), (2, "blocked"), (3, "blocked")]


def test_a_failed_pre_upgrade_check_blocks_the_first_step(pytester, monkeypatch):
    seen = _run(pytester, monkeypatch, _ctx(), check="assert False, 'no backup space'")
    assert seen["upgrade/test_01_a.py::test_upgrade"] == \
        "skipped: blocked by pre-upgrade check test_check (no backup space)"


def test_a_dry_run_is_not_blocked_by_a_failed_step_and_proves_nothing(pytester, monkeypatch):
    ctx = _ctx(dry_run=True)
    seen = _run(pytester, monkeypatch, ctx, step1="assert False, 'pods not ready'")
    assert seen["upgrade/test_02_b.py::test_rollout"] == "passed" and ctx.gate.open
    assert seen["post_upgrade/test_proof.py::test_proof"].startswith("skipped: dry run: nothing was upgraded")


def test_a_cause_every_later_test_would_meet_stops_the_run(pytester, monkeypatch):
    ctx = _ctx()
    raise_it = "from c7n_upgrade.kube import ClusterUnreachable; raise ClusterUnreachable('connection refused')"
    seen = _run(pytester, monkeypatch, ctx, step1=raise_it)
    stopped = "skipped: not run: the cluster became unreachable: connection refused"
    assert seen["upgrade/test_01_a.py::test_rollout"] == "failed"
    assert all(seen[test] == stopped for test in (*STEP2, "post_upgrade/test_proof.py::test_proof"))
    assert ctx.gate.state is State.STOPPED and ctx.gate.cause.kind == "unreachable"
    assert ctx.results.outcome.kind == "stopped"


def test_an_interrupt_leaves_the_gate_interrupted_in_its_test(pytester, monkeypatch):
    ctx = _ctx()
    seen = _run(pytester, monkeypatch, ctx, step2="raise KeyboardInterrupt")
    assert "upgrade/test_03_c.py::test_upgrade" not in seen  # the session ended there
    assert ctx.gate.state is State.INTERRUPTED
    assert (ctx.gate.running.step, ctx.gate.running.test) == (2, "test_rollout")
    assert ctx.results.outcome.kind == "interrupted"
    assert [(line.number, line.status) for line in ctx.results.outcome.lines][:2] == [(1, "passed"), (2, "interrupted")]


def test_in_ci_the_proof_is_not_run_when_the_upgrade_phase_was_asked_for(pytester, monkeypatch):
    seen = _run(pytester, monkeypatch, _ctx(allowed=False))
    assert seen["upgrade/test_01_a.py::test_upgrade"].startswith("skipped: CI=true")
    assert seen["post_upgrade/test_proof.py::test_proof"] == ("skipped: not run: the upgrade phase did not run "
                                                             "(CI=true without --allow-upgrade-in-ci)")
