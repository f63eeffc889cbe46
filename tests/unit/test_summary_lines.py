"""The end-of-run summary says of a dry run only what the run observed (fixtures/summary.py)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from c7n_upgrade.plan import load_plan
from fixtures import summary
from fixtures.context import RunResults
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
                           env_path=Path("envs/x.yaml"), run_dir=None, sandbox=None, env=None)


def test_a_dry_run_whose_releases_were_not_observed_does_not_claim_they_were():
    ctx = _dry_ctx(observed_steps={1, 2})
    outcome = summary.conclude(ctx, 0, False)
    lines = {line.number: line for line in outcome.lines}
    assert lines[1].status == "dry" and "observed Ready and UP" in lines[1].text
    assert lines[3].status != "dry" and "not observed" in lines[3].text
    assert "not installed now" not in lines[3].text  # nothing was looked at
    assert outcome.kind == "dry-run" and "every release observed" not in outcome.headline
    assert "1–2 observed" in outcome.headline


def test_a_dry_run_that_observed_every_release_says_so():
    ctx = _dry_ctx(observed_steps={s.number for s in PLAN.steps})
    outcome = summary.conclude(ctx, 0, False)
    assert {line.status for line in outcome.lines} == {"dry"}
    assert outcome.headline == "DRY RUN: every release observed, nothing changed"
