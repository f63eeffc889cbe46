"""Pre-flight: keep every release's current values in the report (secrets masked)."""
import yaml

from c7n_upgrade.parallel import parallel_map
from fixtures.preflight import plan_steps


def test_values_backed_up(releases, reporter):
    """`helm get values` of every installed release of the plan is attached to the report (secrets masked)."""
    views = [v for v in (releases.view(s) for s in plan_steps()) if v.exists]
    for view, values in zip(views, parallel_map(lambda v: releases.values(v.name), views)):
        reporter.attach(f"values {view.name} (chart {view.chart_version})",
                        yaml.safe_dump(values, sort_keys=True, allow_unicode=True), "yaml")
    assert views, "no release of the plan is installed"
