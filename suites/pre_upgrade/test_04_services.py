"""Pre-flight: every service is healthy now, and Eureka answers."""
import pytest


@pytest.mark.each_step("release", lambda step: step.health_port and step.release)
def test_service_healthy(release, releases, access, plan, reporter):
    """Every pod of the installed 0.8 release is Ready, on its chart's version and answers health UP."""
    step = plan.step(release)
    view = releases.view(step)
    if not view.exists:
        pytest.skip(f"{view.name} is not installed yet (the plan installs it)")
    if view.on_chart(step.version):
        pytest.skip(f"{view.name} is already at its target {step.version}: its step checks it (resumed run)")
    state = access.observe(step, view.name, view.chart_version)  # the rollout rule, at the installed version
    reporter.attach(f"health {view.name}", str(state.health_bodies), "text")
    assert state.done, f"{view.name}: " + "; ".join(state.reasons())


def test_eureka_answers(registry):
    """The registry answers /eureka/apps with at least one application."""
    instances = registry.instances()
    assert instances, "Eureka lists no instance"
