"""Pre-flight: every service is healthy now, and Eureka answers."""
import pytest

from fixtures.preflight import plan_steps

STEPS = [s for s in plan_steps() if s.health_port]


@pytest.mark.parametrize("release", [s.release for s in STEPS])
def test_service_healthy(release, installation, plan, reporter):
    """Every pod of the installed 0.8 release is Ready and answers health UP."""
    step = plan.step(release)
    view = installation.release_view(step)
    if not view.exists:
        pytest.skip(f"{view.name} is not installed yet (the plan installs it)")
    if view.chart_version == step.version:
        pytest.skip(f"{view.name} is already at its target {step.version}: its step checks it (resumed run)")
    state = installation.rollout_state(step, view.name, view.chart_version)
    reporter.attach(f"health {view.name}", str(state.health_bodies), "text")
    assert state.total >= 1, f"{view.name} has no pods"
    assert state.ready == state.total and state.health_up == state.total, (
        f"{view.name}: {state.ready}/{state.total} ready, health UP {state.health_up}/{state.total}")


def test_eureka_answers(installation):
    """The registry answers /eureka/apps with at least one application."""
    instances = installation.eureka_instances()
    assert instances, "Eureka lists no instance"
