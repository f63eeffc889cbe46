"""Kubernetes' history of a release's pods after they were Ready: restarts, Ready flips, failed probes."""
from __future__ import annotations

from c7n_upgrade import rollout
from c7n_upgrade.stability import StabilityWatch, probe_failures
from tests.unit.fakes import FakeClock, Pod


def pod(name="iam-1", *, ready=True, since="2026-12-05T10:00:00Z", restarts=0, version="0.9.0"):
    return Pod(name, version, ready=ready, restart_count=restarts,
               conditions=[{"type": "Ready", "status": str(ready), "lastTransitionTime": since}])


def unhealthy(name, at, count=1, reason="Unhealthy"):
    return {"involvedObject": {"kind": "Pod", "name": name}, "reason": reason, "count": count,
            "lastTimestamp": at, "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"}


def look(watch, *pods, events=()):
    return watch.look("iam", "0.9.0", list(pods), probe_failures(events))


def test_a_pod_ready_and_quiet_is_stable_and_marked_on_first_sight():
    watch = StabilityWatch()
    assert look(watch, pod()) == []
    assert look(watch, pod()) == []
    assert set(watch.marks["iam"]) == {"iam-1"}


def test_probe_failures_before_the_first_ready_are_its_start_not_instability():
    watch = StabilityWatch()
    start = [unhealthy("iam-1", "2026-12-05T09:59:50Z", count=4)]
    assert look(watch, pod(ready=False), events=start) == []
    assert look(watch, pod(), events=start) == []


def test_each_thing_kubernetes_records_after_ready_is_named():
    watch = StabilityWatch()
    look(watch, pod())
    assert "went from Ready to not Ready at" in look(watch, pod(ready=False, since="2026-12-05T10:00:05Z"))[0]
    back = look(StabilityWatch(marks={"iam": dict(watch.marks["iam"])}), pod(since="2026-12-05T10:00:09Z"))
    assert back and "not Ready and back (Ready again at 2026-12-05T10:00:09Z)" in back[0]
    restarted = look(StabilityWatch(marks={"iam": dict(watch.marks["iam"])}), pod(restarts=1))
    assert restarted == ["pod iam-1 restarted 1 time(s) after it was Ready"]
    probed = look(StabilityWatch(marks={"iam": dict(watch.marks["iam"])}), pod(),
                  events=[unhealthy("iam-1", "2026-12-05T10:00:03Z", count=2)])
    assert probed and "2 failed probe(s) after it was Ready" in probed[0] and "statuscode: 503" in probed[0]


def test_a_probe_failure_after_the_last_ready_transition_counts_on_first_sight():
    """What a post-upgrade proof of its own (no marks of the upgrade) can still read from history."""
    watch = StabilityWatch()
    found = look(watch, pod(), events=[unhealthy("iam-1", "2026-12-05T10:00:30Z")])
    assert found and "a probe failed after it became Ready" in found[0]
    assert look(StabilityWatch(), pod(), events=[unhealthy("iam-1", "2026-12-05T10:00:00Z")]) == []


def test_only_the_target_versions_pods_are_judged_and_a_gone_pod_is_named():
    watch = StabilityWatch()
    assert look(watch, pod(), pod("iam-old", ready=False, version="0.8.0")) == []
    found = look(watch, pod("iam-2"))
    assert found == ["pod(s) iam-1 gone after they were Ready (now: iam-2)"]


def test_other_events_and_other_pods_do_not_count():
    events = [unhealthy("iam-1", "2026-12-05T10:00:03Z", reason="Pulled"), unhealthy("other", "2026-12-05T10:00:03Z"),
              {"involvedObject": {"kind": "Node", "name": "iam-1"}, "reason": "Unhealthy", "count": 1}]
    watch = StabilityWatch()
    look(watch, pod())
    assert look(watch, pod(), events=events) == []


def _following(*releases) -> StabilityWatch:
    """A watch following each (release, step), its one pod seen Ready."""
    watch = StabilityWatch()
    for release, step in releases:
        watch.follow(release, "0.9.0", step)
        watch.look(release, "0.9.0", [pod(f"{release}-1")], {})
    return watch


def test_recheck_follows_every_release_but_the_current_step_in_step_order():
    watch = _following(("b", 5), ("a", 2))
    down = {"a": [pod("a-1", ready=False)], "b": [pod("b-1", ready=False)]}
    assert [(s, r) for s, r, _ in watch.recheck(down, {})] == [(2, "a"), (5, "b")]
    assert [(s, r) for s, r, _ in watch.recheck(down, {}, skip_step=2)] == [(5, "b")]


def test_wait_fails_at_once_when_history_shows_a_flap_between_two_looks():
    clock = FakeClock()
    policy = rollout.RolloutPolicy(timeout=60, settle_seconds=5)
    state = rollout.RolloutState(release="iam", target_version="0.9.0", total=1, ready=1, on_target_version=1,
                                 health_required=False)
    looks = iter([[], [], ["pod iam-1 went from Ready to not Ready and back"]] + [[]] * 100)
    try:
        rollout.wait(lambda: state, policy, history=lambda s: next(looks), clock=clock, sleep=clock.sleep)
    except rollout.RolloutUnstable as exc:
        assert exc.problems == ["pod iam-1 went from Ready to not Ready and back"] and exc.last is state
    else:
        raise AssertionError("a flap in the history settled")
    assert clock.now - 1000.0 < 5  # it did not wait out the settle window, let alone the timeout


def test_confirm_raises_unstable_from_history():
    state = rollout.RolloutState(release="iam", target_version="0.9.0", total=1, ready=1, on_target_version=1,
                                 health_required=False)
    clock = FakeClock()
    try:
        rollout.confirm(lambda: state, rollout.RolloutPolicy(timeout=60, settle_seconds=1),
                        history=lambda s: ["pod iam-1 restarted 1 time(s) after it was Ready"],
                        clock=clock, sleep=clock.sleep)
    except rollout.RolloutUnstable as exc:
        assert "restarted" in str(exc)
    else:
        raise AssertionError("confirm passed a restarted pod")


def test_the_earliest_unstable_release_carries_its_own_step_not_the_one_that_saw_it():
    watch = _following(("config-server", 2), ("iam", 4))
    down = {"config-server": [pod("config-server-1", ready=False)], "iam": [pod("iam-1", ready=False)]}
    failure = watch.earliest_unstable(down, {}, skip_step=7)
    assert (failure.earlier_step, failure.release) == (2, "config-server")
    assert str(failure).startswith("config-server became unstable after its step: ")
    assert watch.earliest_unstable({"config-server": [pod("config-server-1")], "iam": [pod("iam-1")]}, {}) is None


def test_pods_are_marked_only_once_the_rollout_is_done_so_a_rollout_at_the_same_label_replaces_them_freely():
    watch = StabilityWatch()
    assert watch.look("iam", "0.9.0", [pod("iam-old")], {}, done=False) == []  # replaced next: not marked
    assert watch.look("iam", "0.9.0", [pod("iam-new")], {}, done=True) == []
    assert watch.look("iam", "0.9.0", [pod("iam-newer")], {}, done=False) == [
        "pod(s) iam-new gone after they were Ready (now: iam-newer)"]


def test_failed_probes_are_counted_per_event_so_expired_events_hide_no_new_ones():
    watch = StabilityWatch()
    start = [dict(unhealthy("iam-1", "2026-12-05T09:59:50Z", count=6), metadata={"name": "iam-1.a"})]
    look(watch, pod(), events=start)
    later = [dict(unhealthy("iam-1", "2026-12-05T11:00:00Z", count=3), metadata={"name": "iam-1.b"})]  # .a expired
    found = look(watch, pod(), events=later)
    assert found and "3 failed probe(s) after it was Ready" in found[0]
