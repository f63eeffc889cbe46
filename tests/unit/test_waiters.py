"""Unit tests for c7n_upgrade.waiters: the generic poller, on a fake clock."""
from __future__ import annotations

import pytest

from c7n_upgrade.waiters import WaitTimeout, poll
from tests.unit.fakes import FakeClock


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
