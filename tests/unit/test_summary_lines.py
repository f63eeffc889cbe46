"""The end-of-run summary says of a dry run only what the run observed, and every run that did not do
what it was asked gives the command that shares its report (fixtures/summary.py)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from c7n_upgrade.plan import load_plan
from fixtures import summary
from fixtures.context import RunResults
from fixtures.gate import Gate
from fixtures.context import TestOutcome as Result

PLAN = load_plan("0.8-to-0.9")


def _dry_ctx(observed_steps: set[int]):
    """A dry run over every step: helm's command recorded each time, `test_rollout` run only for
    `observed_steps` (the others deselected, e.g. `-k test_upgrade`)."""
    results = RunResults()
    results.phases = {"upgrade"}
    for step in PLAN.steps:
        results.collected_steps.append(step.number)
        results.outcomes.append(Result("upgrade", step.number, "passed", "", "test_upgrade"))
        listed = SimpleNamespace(chart_version=step.from_version or "0.8.0", exists=True)
        observed = None
        if step.number in observed_steps:
            results.outcomes.append(Result("upgrade", step.number, "passed", "", "test_rollout"))
            observed = SimpleNamespace(total=1, target_version=listed.chart_version)
        results.upgrades[step.number] = SimpleNamespace(
            outcome=SimpleNamespace(action="dry-run", listed=listed), observed=observed, release=step.release)
    return SimpleNamespace(plan=PLAN, results=results, lang="en", dry_run=True, upgrade_allowed=True,
                           env_path=Path("envs/x.yaml"), run_dir=None, sandbox=None, env=None, gate=Gate())


def test_a_dry_run_whose_releases_were_not_observed_does_not_claim_they_were():
    ctx = _dry_ctx(observed_steps={1, 2})
    outcome = summary.conclude(ctx, 0)
    lines = {line.number: line for line in outcome.lines}
    assert lines[1].status == "dry" and "observed Ready and UP" in lines[1].text
    assert lines[3].status != "dry" and "not observed" in lines[3].text
    assert "not installed now" not in lines[3].text  # nothing was looked at
    assert outcome.kind == "dry-run" and "every release observed" not in outcome.headline
    assert "1–2 observed" in outcome.headline


def test_a_dry_run_that_observed_every_release_says_so():
    ctx = _dry_ctx(observed_steps={s.number for s in PLAN.steps})
    outcome = summary.conclude(ctx, 0)
    assert {line.status for line in outcome.lines} == {"dry"}
    assert outcome.headline == "DRY RUN: every release observed, nothing changed"


def _failed_ctx(tmp_path, lang: str, *, interrupted_at: int | None = None):
    """A run whose step 4 failed (or that was interrupted while waiting for step 5's pods)."""
    from c7n_upgrade.redact import Redactor
    from fixtures.context import Running

    results, gate = RunResults(), Gate(lang)
    results.phases = {"pre_upgrade", "upgrade", "post_upgrade"}
    results.collected_steps = [step.number for step in PLAN.steps]
    for number in range(1, 4):
        results.outcomes.append(Result("upgrade", number, "passed", "", "test_upgrade"))
    if interrupted_at is None:
        results.outcomes.append(Result("upgrade", 4, "failed", "iam-service not rolled out", "test_rollout"))
    else:
        gate.enter(Running("upgrade", interrupted_at, "test_rollout"))
        gate.interrupt()
    run_dir = tmp_path / "20261205T101010Z-sandbox"
    run_dir.mkdir(parents=True)
    return SimpleNamespace(plan=PLAN, results=results, lang=lang, dry_run=False, upgrade_allowed=True,
                           env_path=Path("envs/prod.yaml"), run_dir=run_dir, sandbox=None, started=0.0,
                           settings=SimpleNamespace(env_name="prod", namespace="choerodon-devops-prod"), redactor=Redactor(),
                           gate=gate)


SHARE = "./run python -m c7n_upgrade.share --run 20261205T101010Z-sandbox"


def test_a_failed_runs_next_line_gives_the_share_command_in_each_language(tmp_path):
    for lang, says in (("en", "use the share command below"), ("zh", "请用下面的 share 命令")):
        ctx = _failed_ctx(tmp_path / lang, lang)
        outcome = summary.conclude(ctx, 1)
        assert outcome.kind == "failed" and outcome.next.endswith(says + ("." if lang == "en" else "。"))
        assert outcome.commands == [SHARE]
        written = json.loads((ctx.run_dir / "outcome.json").read_text(encoding="utf-8"))
        assert written["commands"] == [SHARE] and says in written["next"]


def test_an_interrupted_runs_share_command_comes_after_the_helm_commands(tmp_path):
    outcome = summary.conclude(_failed_ctx(tmp_path, "en", interrupted_at=5), 2)
    assert outcome.kind == "interrupted"
    assert outcome.commands == ["helm status notify-service", "helm history notify-service", SHARE]
    assert "with the two commands below" in outcome.next and outcome.next.endswith("use the share command below.")


def test_a_successful_run_gives_the_share_command_once(tmp_path):
    ctx = _failed_ctx(tmp_path, "en")
    ctx.results.outcomes = [o for o in ctx.results.outcomes if o.outcome != "failed"]
    ctx.results.phases = {"post_upgrade"}
    ctx.results.collected_steps = []
    outcome = summary.conclude(ctx, 0)
    assert outcome.kind == "post-passed" and outcome.commands == [SHARE]
    assert "share command below" not in outcome.next
