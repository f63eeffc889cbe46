"""Unit tests for c7n_upgrade.waiters: the poller (fake clock) and the release-rollout rules."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from c7n_upgrade.waiters import (
    HealthResult,
    ReleaseNotReady,
    RolloutState,
    WaitTimeout,
    observe_release,
    poll,
    wait_for_release,
)


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


# --------------------------------------------------------------------------- poll


def test_poll_returns_first_truthy_result():
    clock = FakeClock()
    answers = iter([None, 0, "", "ready", "later"])
    assert poll(lambda: next(answers), timeout=60, clock=clock, sleep=clock.sleep) == "ready"
    assert len(clock.sleeps) == 3


def test_poll_timeout_carries_last_observation_and_elapsed():
    clock = FakeClock()
    seen = iter(range(1, 10_000))

    def check():
        n = next(seen)
        return {"attempt": n, "ok": False}

    with pytest.raises(WaitTimeout) as info:
        poll(check, timeout=10, interval=1, max_interval=1, until=lambda o: o["ok"], clock=clock, sleep=clock.sleep)
    err = info.value
    assert err.elapsed >= 10
    assert err.elapsed < 11, "must not overshoot the timeout by more than one check"
    assert err.last["ok"] is False
    assert err.last["attempt"] == len(clock.sleeps) + 1
    assert "attempt" in str(err)


def test_poll_backoff_grows_to_max_interval():
    clock = FakeClock()
    with pytest.raises(WaitTimeout):
        poll(lambda: None, timeout=100, interval=0.2, max_interval=2.0, backoff=1.5, clock=clock, sleep=clock.sleep)
    sleeps = clock.sleeps
    assert sleeps[0] == pytest.approx(0.2)
    assert sleeps[1] == pytest.approx(0.3)
    assert sleeps[2] == pytest.approx(0.45)
    # monotonic growth, capped at max_interval (the last one may be shortened to hit the deadline)
    assert all(b >= a for a, b in zip(sleeps[:-2], sleeps[1:-1]))
    assert max(sleeps) == pytest.approx(2.0)
    assert sleeps.count(2.0) > 10
    assert sum(sleeps) == pytest.approx(100)


def test_poll_progress_callback_gets_elapsed_and_observation():
    clock = FakeClock()
    calls = []
    values = iter([1, 2, 3, 4])
    poll(lambda: next(values), timeout=60, interval=1, until=lambda v: v >= 4,
         on_progress=lambda elapsed, obs: calls.append((elapsed, obs)), clock=clock, sleep=clock.sleep)
    assert [obs for _, obs in calls] == [1, 2, 3]
    assert [e for e, _ in calls] == sorted(e for e, _ in calls)
    assert calls[0][0] == 0


def test_poll_retry_on_keeps_going_and_reports_last_error():
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as info:
        poll(lambda: (_ for _ in ()).throw(ConnectionError("refused")), timeout=3, interval=1,
             retry_on=(ConnectionError,), clock=clock, sleep=clock.sleep)
    assert isinstance(info.value.last_error, ConnectionError)
    assert "refused" in str(info.value)


def test_poll_other_exceptions_propagate_at_once():
    clock = FakeClock()
    with pytest.raises(KeyError):
        poll(lambda: {}["x"], timeout=30, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_poll_zero_timeout_checks_once():
    clock = FakeClock()
    with pytest.raises(WaitTimeout):
        poll(lambda: None, timeout=0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
    assert poll(lambda: 7, timeout=0, clock=clock, sleep=clock.sleep) == 7


# --------------------------------------------------------------------------- RolloutState rules


def done_state(**overrides) -> RolloutState:
    base = dict(release="notify-service", target_version="0.9.0", total=2, ready=2, on_target_version=2, health_up=2)
    base.update(overrides)
    return RolloutState(**base)


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


def test_state_health_not_required_ignores_health():
    assert done_state(health_up=0, health_required=False).done


def test_progress_line_in_both_languages():
    from c7n_upgrade import i18n

    s = done_state(health_up=1)
    fields = dict(n=5, total=16, release="notify-service", ready=s.ready, pods=s.total, version="0.9.0",
                  on_version=s.on_target_version, up=s.health_up, elapsed=34.2, timeout=600)
    assert i18n.progress("en", **fields) == (
        "[05/16] notify-service: 2/2 pods ready, on 0.9.0 2/2, health UP 1/2 (34s/600s)")
    assert i18n.progress("zh", **fields) == "[05/16] notify-service：就绪 2/2，版本 0.9.0 2/2，健康 UP 1/2（34s/600s）"


# --------------------------------------------------------------------------- observe_release


@dataclass
class Pod:
    name: str
    version: str
    ready: bool = True
    deleting: bool = False
    ip: str = "127.20.0.1"
    phase: str = "Running"


@dataclass
class FakeKube:
    pods: list = field(default_factory=list)
    asked: list = field(default_factory=list)

    def pods_of_release(self, release):
        self.asked.append(release)
        return list(self.pods)


def test_observe_release_counts_every_pod_and_probes_in_parallel():
    kube = FakeKube([Pod("n-new-1", "0.9.0"), Pod("n-new-2", "0.9.0"), Pod("n-old-1", "0.8.0", deleting=True)])
    threads = set()
    barrier = threading.Barrier(2, timeout=5)

    def probe(pod):
        threads.add(threading.get_ident())
        barrier.wait()  # only passes if two probes run at the same time
        return HealthResult("UP" if pod.name.endswith("1") else "DOWN", body=f'{{"status":"..{pod.name}"}}')

    state = observe_release(kube, probe, "notify-service", "0.9.0", 18086, "/health")
    assert kube.asked == ["notify-service"]
    assert state.total == 3
    assert state.ready == 2
    assert state.on_target_version == 2
    assert state.old_version_pods == ["n-old-1 (0.8.0)"]
    assert state.deleting_pods == ["n-old-1"]
    assert state.health_up == 1
    assert set(state.health_bodies) == {"n-new-1", "n-new-2"}  # a terminating pod is not probed
    assert len(threads) == 2
    assert not state.done


def test_observe_release_probe_error_is_recorded_not_raised():
    kube = FakeKube([Pod("p1", "0.9.0")])

    def probe(pod):
        raise ConnectionRefusedError("connection refused")

    state = observe_release(kube, probe, "r", "0.9.0", 8061)
    assert state.health_up == 0
    assert "connection refused" in state.health_bodies["p1"]
    assert state.errors and "8061" in state.errors[0]


def test_observe_release_without_health_port():
    kube = FakeKube([Pod("front-1", "0.9.1")])
    state = observe_release(kube, None, "choerodon-front", "0.9.1", None)
    assert state.done


def test_wait_for_release_done_after_rollout():
    clock = FakeClock()
    kube = FakeKube()
    script = [
        [Pod("a-old", "0.8.0"), Pod("a-new", "0.9.0", ready=False)],
        [Pod("a-old", "0.8.0", deleting=True), Pod("a-new", "0.9.0")],
        [Pod("a-new", "0.9.0")],
    ]

    def observe():
        if script:
            kube.pods = script.pop(0)
        return observe_release(kube, lambda p: HealthResult("UP"), "a", "0.9.0", 8081)

    seen = []
    state = wait_for_release(observe, timeout=60, clock=clock, sleep=clock.sleep,
                             on_progress=lambda e, s: seen.append(s))
    assert state.done and state.total == 1
    assert len(seen) == 2  # two unfinished observations, then done
    assert (seen[0].ready, seen[0].total) == (1, 2)
    assert seen[1].deleting_pods == ["a-old"]


def test_wait_for_release_timeout_attaches_last_state():
    clock = FakeClock()
    kube = FakeKube([Pod("a-1", "0.9.0")])
    with pytest.raises(ReleaseNotReady) as info:
        wait_for_release(lambda: observe_release(kube, lambda p: HealthResult("DOWN", '{"status":"DOWN"}'), "a", "0.9.0", 8081),
                         timeout=30, clock=clock, sleep=clock.sleep)
    err = info.value
    assert isinstance(err, WaitTimeout)
    assert isinstance(err.last, RolloutState)
    assert err.last.health_bodies == {"a-1": '{"status":"DOWN"}'}
    assert "release a not ready" in str(err) and "health UP on 0/1" in str(err)
    assert "DOWN" in err.last.summary()


@dataclass
class HealthLike:
    """The shape of probes.Health: a verdict (`up`) that also weighs the HTTP code, a dict body, raw text."""

    status: str
    code: int
    body: dict
    text: str
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.status == "UP" and 200 <= self.code < 300


def test_observe_release_prefers_the_up_verdict_and_raw_text():
    kube = FakeKube([Pod("p1", "0.9.0"), Pod("p2", "0.9.0")])
    answers = {
        "p1": HealthLike("UP", 200, {"status": "UP"}, '{"status":"UP","db":{"status":"UP"}}'),
        "p2": HealthLike("UP", 503, {"status": "UP"}, '{"status":"UP"}', error="status UP but HTTP 503"),
    }
    state = observe_release(kube, lambda pod: answers[pod.name], "r", "0.9.0", 8081)
    assert state.health_up == 1
    assert state.health_bodies["p1"] == '{"status":"UP","db":{"status":"UP"}}'
    assert "status UP but HTTP 503" in state.health_bodies["p2"]
    assert not state.done


def test_settle_needs_consecutive_done_observations_and_a_flap_resets_it():
    clock = FakeClock()
    kube = FakeKube()
    up, down = (lambda p: HealthResult("UP")), (lambda p: HealthResult("DOWN"))
    # done, done, flap DOWN, then done for good
    script = [up, up, down, up, up, up, up]
    seen = []

    def observe():
        kube.pods = [Pod("a-1", "0.9.0")]
        probe = script.pop(0) if script else up
        state = observe_release(kube, probe, "a", "0.9.0", 8081)
        seen.append(state.done)
        return state

    state = wait_for_release(observe, timeout=60, clock=clock, sleep=clock.sleep, interval=0.2,
                             max_interval=2.0, settle_checks=3, settle_seconds=0.4)
    assert state.done
    assert seen[:3] == [True, True, False]  # the DOWN in between was seen and did not count
    assert len(seen) >= 6  # three fresh done observations after the flap


def test_wait_confirms_at_the_short_interval_once_done_is_in_sight():
    clock = FakeClock()
    kube = FakeKube()
    ready_after = 6  # observations while the pod starts: the delay backs off meanwhile

    def observe():
        n = len(clock.sleeps)
        kube.pods = [Pod("a-1", "0.9.0", ready=n >= ready_after)]
        return observe_release(kube, lambda p: HealthResult("UP"), "a", "0.9.0", 8081)

    wait_for_release(observe, timeout=60, clock=clock, sleep=clock.sleep, interval=0.2, max_interval=2.0,
                     backoff=1.5, settle_checks=3, settle_seconds=0.3)
    backoff_part, settle_part = clock.sleeps[:ready_after], clock.sleeps[ready_after:]
    assert max(backoff_part) > 0.2  # it backed off while waiting
    assert settle_part and all(s == pytest.approx(0.2) for s in settle_part)
