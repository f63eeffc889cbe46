"""Pre-flight: no release's values pin its image to a version the upgrade would carry over."""
from c7n_upgrade.parallel import parallel_map
from c7n_upgrade.upgrade import image_pins, pin_advice


def test_no_values_pin_an_old_image(plan, releases, settings):
    """No release's values pin `image.tag` to another version than its target (kept by the upgrade, the old
    image would run under the new chart's labels)."""
    views = [(s, v) for s, v in ((s, releases.view(s)) for s in plan.steps) if v.exists]
    values = parallel_map(lambda item: releases.values(item[1].name), views)
    problems = [pin_advice(view.name, f"{settings.chart_repo}/{step.chart}", view.chart_version, pins, step.version)
                for (step, view), current in zip(views, values) if (pins := image_pins(current, step.version))]
    assert not problems, "\n".join(problems)
