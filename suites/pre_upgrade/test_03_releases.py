"""Pre-flight: every release of the plan is where the plan starts from."""
import pytest


@pytest.mark.each_step("release", lambda step: step.release)
def test_release_state(release, releases, plan, settings):
    """The release is deployed at 0.8.x (or at its target: a resumed run); new services are absent or at target."""
    step = plan.step(release)
    view = releases.view(step)
    if step.action == "install":
        assert not view.exists or view.on_chart(step.version), (
            f"{view.name} exists at {view.chart_version}; the plan installs {step.version}")
        return
    assert view.exists, f"release {view.name} (chart {step.chart}) not found in namespace {settings.namespace}"
    # `failed` is an earlier attempt of this upgrade: its step runs helm again. `pending-*` is not safe.
    assert view.status in ("deployed", "failed"), (
        f"{view.name} is {view.status}: an earlier helm operation was interrupted; check `helm history "
        f"{view.name}` and roll back to the last deployed revision before upgrading")
    from_minor = ".".join((step.from_version or plan.from_).split(".")[:2])
    assert view.on_chart(step.version) or view.chart_version.startswith(from_minor + "."), (
        f"{view.name} runs chart {view.chart_name}-{view.chart_version}; expected {from_minor}.x or {step.version}")
