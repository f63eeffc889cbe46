"""Pre-flight: keep every release's current values in the report (secrets masked)."""
import yaml

from fixtures.preflight import plan_steps


def test_values_backed_up(installation, helm, reporter):
    """`helm get values` of every installed release of the plan is attached to the report."""
    saved = []
    for step in plan_steps():
        view = installation.release_view(step)
        if not view.exists:
            continue
        values = helm.get_values(view.name)
        reporter.attach(f"values {view.name} (chart {view.chart_version})",
                        yaml.safe_dump(values, sort_keys=True, allow_unicode=True), "yaml")
        saved.append(view.name)
    assert saved, "no release of the plan is installed"
