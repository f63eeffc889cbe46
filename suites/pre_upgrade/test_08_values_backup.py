"""Pre-flight: keep every release's current values, in the report and as files of this run (secrets masked)."""
import yaml

from c7n_upgrade.parallel import parallel_map
from fixtures.preflight import plan_steps


def test_values_backed_up(releases, reporter, run_files):
    """`helm get values` of every installed release of the plan is kept: attached to the report and written
    to the run's values/ directory (0600 files, secrets masked)."""
    views = [v for v in (releases.view(s) for s in plan_steps()) if v.exists]
    for view, values in zip(views, parallel_map(lambda v: releases.values(v.name), views)):
        text = yaml.safe_dump(values, sort_keys=True, allow_unicode=True)
        reporter.attach(f"values {view.name} (chart {view.chart_version})", text, "yaml")
        run_files.keep(f"values/{view.name}.yaml", text, what="k_values")
    assert views, "no release of the plan is installed"
