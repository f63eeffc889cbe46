"""Pre-flight: keep every release's current values: whole in this run's private values/ directory (0700,
files 0600), and in the report only as the allowlist shows them (every other value `<hidden HASH>`)."""
import yaml

from c7n_upgrade.helm import plan_keys, shown_values
from c7n_upgrade.parallel import parallel_map


def test_values_backed_up(plan, releases, reporter, run_files):
    """`helm get values` of every installed release of the plan is kept: whole in the run's values/
    directory, never attached to the report, which shows the allowlisted values and hides the rest."""
    steps = [s for s in plan.steps if releases.view(s).exists]
    views = [releases.view(s) for s in steps]
    for step, view, values in zip(steps, views, parallel_map(lambda v: releases.values(v.name), views)):
        shown = shown_values(values, plan_keys(step.values))
        reporter.attach(f"values {view.name} (chart {view.chart_version})",
                        yaml.safe_dump(shown, sort_keys=True, allow_unicode=True), "yaml")
        run_files.keep(f"values/{view.name}.yaml", yaml.safe_dump(values, sort_keys=True, allow_unicode=True),
                       what="k_values", redact=False)
    assert views, "no release of the plan is installed"
