"""c7n_upgrade.rollout: the rule (RolloutState.done), one observation, the settled wait (fake clock)."""
from __future__ import annotations

import itertools
import threading

import pytest

from c7n_upgrade import rollout
from c7n_upgrade.probes import Health
from c7n_upgrade.rollout import RolloutPolicy, RolloutState
from c7n_upgrade.waiters import WaitTimeout
from tests.unit.fakes import DOWN, UP, FakeClock, Pod
ONCE = dict(settle_observations=1, settle_seconds=0.0)  # done counts at the first done observation


def done_state(**overrides) -> RolloutState:
    base = dict(release="notify-service", target_version="0.9.0", total=2, ready=2, on_target_version=2, health_up=2)
    base.update(overrides)
    return RolloutState(**base)


# --------------------------------------------------------------------------- the rule


def test_state_done_when_everything_holds():
    assert done_state().done
    assert done_state().reasons() == []


def test_state_old_version_pod_left_is_not_done():
    s = done_state(old_version_pods=["notify-service-old-1 (0.8.0)"])
    assert not s.done
    assert any("old-version" in r for r in s.reasons())


def test_state_pod_not_ready_is_not_done():
    assert not done_state(ready=1).done


def test_state_health_down_is_not_done():
    s = done_state(health_up=1)
    assert not s.done
    assert "health UP on 1/2 pod(s)" in s.reasons()


def test_state_zero_pods_is_not_done():
    s = RolloutState(release="x", target_version="0.9.0", health_required=False)
    assert not s.done
    assert "no pod of the release exists" in s.reasons()


def test_state_pod_on_other_version_or_terminating_is_not_done():
    assert not done_state(on_target_version=1).done
    assert not done_state(deleting_pods=["p"]).done


def test_a_pod_running_another_versions_image_is_not_done():
    pods = [Pod("iam-1", "0.9.0", image="registry.example:5000/choerodon/iam-service:0.8.0"),
            Pod("iam-2", "0.9.0", image="registry.example:5000/choerodon/iam-service:0.9.0"),
            Pod("iam-3", "0.9.0", image="registry.example/iam-service@sha256:abc")]  # a digest: no tag to judge
    state = rollout.observe(pods, None, "iam-service", "0.9.0", None)
    assert state.wrong_image_pods == ["iam-1 (registry.example:5000/choerodon/iam-service:0.8.0)"]
    assert not state.done
    assert "pod(s) running an image not tagged 0.9.0: iam-1 (registry.example:5000/choerodon/iam-service:0.8.0)" \
        in state.reasons()


def test_state_health_not_required_ignores_health():
    assert done_state(health_up=0, health_required=False).done


def _done_as_the_rule_reads(s: RolloutState) -> bool:
    """The rule as the module's docstring states it, written out apart from `reasons()`: every pod
    Ready, on the target label and image, UP (when health is asked), none terminating, none old."""
    return (s.total >= 1 and not (s.deleting_pods or s.old_version_pods or s.wrong_image_pods)
            and s.ready == s.total and s.on_target_version == s.total
            and (not s.health_required or s.health_up == s.total))


def test_done_is_exactly_no_reason_over_every_combination():
    """`done` is `not reasons()`: a reason missing for one case (or one too many) fails here."""
    seen = {True: 0, False: 0}
    for total in range(3):
        for ready, on_target, up in itertools.product(range(total + 1), repeat=3):
            for required, old, wrong, deleting in itertools.product((True, False), repeat=4):
                s = RolloutState(release="r", target_version="0.9.0", total=total, ready=ready,
                                 on_target_version=on_target, health_up=up, health_required=required,
                                 old_version_pods=["p (0.8.0)"] if old else [],
                                 wrong_image_pods=["p (img:0.8.0)"] if wrong else [],
                                 deleting_pods=["p"] if deleting else [])
                expected = _done_as_the_rule_reads(s)
                assert s.done is expected and (s.reasons() == []) is expected, (s, s.reasons())
                seen[expected] += 1
    assert seen[True] and seen[False] > seen[True]  # both verdicts were reached


def test_progress_line_in_both_languages():
    from c7n_upgrade import i18n

    s = done_state(health_up=1)
    fields = dict(n=5, total=16, release="notify-service", ready=s.ready, pods=s.total, version="0.9.0",
                  on_version=s.on_target_version, up=s.health_up, elapsed=34.2, timeout=600)
    assert i18n.progress("en", **fields) == (
        "[05/16] notify-service: 2/2 pods ready, on 0.9.0 2/2, health UP 1/2 (34s/600s)")
    assert i18n.progress("zh", **fields) == "[05/16] notify-service：就绪 2/2，版本 0.9.0 2/2，健康 UP 1/2（34s/600s）"


def test_policy_defaults_are_the_settled_rule():
    """3 observations over 10 s (a 3 s DOWN / 3 s UP flap cannot hold that long), starting at 0.2 s and
    backing off by 1.3 (the env gives timeout, poll_max, settle)."""
    p = RolloutPolicy(timeout=600)
    assert (p.settle_observations, p.settle_seconds, p.interval, p.backoff, p.poll_max) == (3, 10.0, 0.2, 1.3, 0.5)


# --------------------------------------------------------------------------- one observation


def test_observe_counts_every_pod_and_probes_in_parallel():
    pods = [Pod("n-new-1", "0.9.0"), Pod("n-new-2", "0.9.0"), Pod("n-old-1", "0.8.0", deleting=True)]
    threads = set()
    barrier = threading.Barrier(2, timeout=5)

    def probe(pod):
        threads.add(threading.get_ident())
        barrier.wait()  # only passes if two probes run at the same time
        body = f'{{"status":"..{pod.name}"}}'
        return Health("UP", 200, None, None, body) if pod.name.endswith("1") else Health("DOWN", 503, None, None, body)

    state = rollout.observe(pods, probe, "notify-service", "0.9.0", 18086)
    assert state.total == 3
    assert state.ready == 2
    assert state.on_target_version == 2
    assert state.old_version_pods == ["n-old-1 (0.8.0)"]
    assert state.deleting_pods == ["n-old-1"]
    assert state.health_up == 1
    assert set(state.health_bodies) == {"n-new-1", "n-new-2"}  # a terminating pod is not probed
    assert len(threads) == 2
    assert not state.done


def test_observe_probe_error_is_recorded_not_raised():
    def probe(pod):
        raise ConnectionRefusedError("connection refused")

    state = rollout.observe([Pod("p1", "0.9.0")], probe, "r", "0.9.0", 8061)
    assert state.health_up == 0
    assert "connection refused" in state.health_bodies["p1"] and state.not_up == {"p1": "ERROR"}


def test_observe_without_health_port():
    state = rollout.observe([Pod("front-1", "0.9.1")], None, "choerodon-front", "0.9.1", None)
    assert state.done


def test_health_up_is_the_only_verdict():
    """A body saying UP with HTTP 503 is not UP (Health.up weighs the code); the raw text is shown."""
    answers = {
        "p1": Health("UP", 200, {"status": "UP"}, None, '{"status":"UP","db":{"status":"UP"}}'),
        "p2": Health("UP", 503, {"status": "UP"}, "status UP but HTTP 503", '{"status":"UP"}'),
    }
    state = rollout.observe([Pod("p1", "0.9.0"), Pod("p2", "0.9.0")], lambda pod: answers[pod.name], "r", "0.9.0", 8081)
    assert state.health_up == 1
    assert state.health_bodies["p1"] == '{"status":"UP","db":{"status":"UP"}}'
    assert "status UP but HTTP 503" in state.health_bodies["p2"]
    assert not state.done


# --------------------------------------------------------------------------- the wait


def test_wait_done_after_rollout():
    clock = FakeClock()
    script = [
        [Pod("a-old", "0.8.0"), Pod("a-new", "0.9.0", ready=False)],
        [Pod("a-old", "0.8.0", deleting=True), Pod("a-new", "0.9.0")],
        [Pod("a-new", "0.9.0")],
    ]
    pods = []

    def observe():
        if script:
            pods[:] = script.pop(0)
        return rollout.observe(pods, lambda p: UP, "a", "0.9.0", 8081)

    seen = []
    state = rollout.wait(observe, RolloutPolicy(timeout=60, **ONCE), clock=clock, sleep=clock.sleep,
                         on_progress=lambda e, s: seen.append(s))
    assert state.done and state.total == 1
    assert len(seen) == 2  # two unfinished observations, then done
    assert (seen[0].ready, seen[0].total) == (1, 2)
    assert seen[1].deleting_pods == ["a-old"]


def test_wait_timeout_attaches_last_state():
    clock = FakeClock()
    with pytest.raises(rollout.RolloutNotDone) as info:
        rollout.wait(lambda: rollout.observe([Pod("a-1", "0.9.0")], lambda p: DOWN, "a", "0.9.0", 8081),
                     RolloutPolicy(timeout=30), clock=clock, sleep=clock.sleep)
    err = info.value
    assert isinstance(err, WaitTimeout)
    assert isinstance(err.last, RolloutState)
    assert err.last.health_bodies == {"a-1": '{"status":"DOWN"}'}
    assert "release a not ready" in str(err) and "health UP on 0/1" in str(err)
    assert err.elapsed == pytest.approx(30)


def test_settle_needs_consecutive_done_observations_and_a_flap_resets_it():
    clock = FakeClock()
    script = [UP, UP, DOWN, UP, UP, UP, UP]  # done, done, a flap DOWN, then done for good
    seen = []

    def observe():
        answer = script.pop(0) if script else UP
        state = rollout.observe([Pod("a-1", "0.9.0")], lambda p: answer, "a", "0.9.0", 8081)
        seen.append(state.done)
        return state

    policy = RolloutPolicy(timeout=60, interval=0.2, poll_max=2.0, settle_observations=3, settle_seconds=0.4)
    state = rollout.wait(observe, policy, clock=clock, sleep=clock.sleep)
    assert state.done
    assert seen[:3] == [True, True, False]  # the DOWN in between was seen and did not count
    assert len(seen) >= 6  # three fresh done observations after the flap


def test_wait_confirms_at_the_short_interval_once_done_is_in_sight():
    clock = FakeClock()
    ready_after = 6  # observations while the pod starts: the delay backs off meanwhile

    def observe():
        pod = Pod("a-1", "0.9.0", ready=len(clock.sleeps) >= ready_after)
        return rollout.observe([pod], lambda p: UP, "a", "0.9.0", 8081)

    policy = RolloutPolicy(timeout=60, interval=0.2, poll_max=2.0, backoff=1.5, settle_observations=3,
                           settle_seconds=0.3)
    rollout.wait(observe, policy, clock=clock, sleep=clock.sleep)
    backoff_part, settle_part = clock.sleeps[:ready_after], clock.sleeps[ready_after:]
    assert max(backoff_part) > 0.2  # it backed off while waiting
    assert settle_part and all(s == pytest.approx(0.2) for s in settle_part)


def test_the_proof_looks_over_the_whole_settle_window():
    clock = FakeClock()
    seen = []
    policy = RolloutPolicy(timeout=60, settle_seconds=10.0)
    rounds = rollout.observe_over_window(lambda: seen.append(clock.now) or len(seen), policy,
                                         clock=clock, sleep=clock.sleep)
    assert rounds == list(range(1, len(rounds) + 1))
    assert seen[0] == 1000.0 and seen[-1] - seen[0] >= 10.0 and 3 <= len(rounds) <= 22
    assert max(b - a for a, b in zip(seen, seen[1:])) <= 0.5  # a 3 s DOWN phase cannot fall between two looks
    other = FakeClock()
    quick = rollout.observe_over_window(lambda: 1, RolloutPolicy(timeout=60, settle_seconds=0.0),
                                        clock=other, sleep=other.sleep)
    assert len(quick) == 3
