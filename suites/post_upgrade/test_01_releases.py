"""Post-upgrade proof: every release at its target chart, every pod on it, Ready and UP."""
import pytest


@pytest.mark.each_step("release", lambda step: step.release)
def test_release_at_target(release, final_state):
    """The release is at its target version and every pod runs it (label, image, /info), Ready and UP throughout.

    "Throughout": every observation over the settle window, and no restart, Ready flip or failed probe that
    Kubernetes recorded since the run saw the pods Ready (a proof run alone: since its first look, and failed
    probes since each pod's last Ready transition); /info: the service names no other version."""
    item = final_state.releases[release]
    assert item.view.at_target(item.step.version), "; ".join(item.view.why_not_at_target(item.step.version))
    state = item.rollout
    assert state.total >= 1, f"{item.view.name} has no pods"
    # what runs, not only what the label says; and what Kubernetes recorded since the pods were Ready
    problems = ([] if state.done else state.reasons()) + item.said + item.unstable
    assert not problems, (f"{item.view.name} (one of {item.observations} observations over the settle window): "
                          f"{state.ready}/{state.total} ready, on {item.step.version} "
                          f"{state.on_target_version}/{state.total}, UP {state.health_up}/{state.total}; "
                          + "; ".join(problems))
