"""Waiting: the one generic poller, with backoff.

`poll()` is the loop every wait in the suite goes through (the typed rollout wait in `rollout.py`
included). It returns the first observation that satisfies the condition and, on timeout, raises
`WaitTimeout` carrying the last observation so that the report can show *why* it never got there.
Clock and sleep are injectable for tests.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, TypeVar

from .errors import C7nError

T = TypeVar("T")

__all__ = ["WaitTimeout", "poll"]


class WaitTimeout(C7nError):
    """A wait ran out of time. `last` is the last observation (or the last error)."""

    def __init__(self, elapsed: float, last: Any, message: str | None = None, last_error: BaseException | None = None):
        self.elapsed = elapsed
        self.last = last
        self.last_error = last_error
        if message is None:
            message = f"timed out after {elapsed:.0f}s; last observation: {last!r}"
            if last_error is not None:
                message += f"; last error: {last_error}"
        super().__init__(message)


def poll(
    check: Callable[[], Optional[T]],
    *,
    timeout: float,
    interval: float = 0.2,
    max_interval: float = 2.0,
    backoff: float = 1.5,
    on_progress: Callable[[float, Optional[T]], None] | None = None,
    until: Callable[[T], bool] | None = None,
    hurry: Callable[[T], bool] | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `check()` until it gives a truthy result (or one `until(result)` accepts); return it.

    The delay between calls starts at `interval` and grows by `backoff` up to `max_interval`;
    the last sleep is shortened so the wait never overshoots `timeout` by more than one check.
    `on_progress(elapsed, observation)` is called after every unsuccessful check.
    Exceptions listed in `retry_on` are treated as "not yet" (kept as `WaitTimeout.last_error`);
    any other exception propagates at once. When `hurry(result)` is true the delay drops back to
    `interval` (the goal is in sight: confirm it quickly).
    """
    if timeout < 0:
        raise ValueError("timeout must be >= 0")
    accept = until if until is not None else bool
    start = clock()
    delay = max(interval, 0.0)
    last: Optional[T] = None
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
        except retry_on as exc:  # type: ignore[misc]
            last_error = exc
        else:
            last = result
            last_error = None
            if result is not None and accept(result):
                return result
        elapsed = clock() - start
        if on_progress is not None:
            on_progress(elapsed, last)
        if elapsed >= timeout:
            raise WaitTimeout(elapsed, last, last_error=last_error)
        if hurry is not None and last is not None and hurry(last):
            delay = max(interval, 0.0)
        sleep(max(0.0, min(delay, timeout - elapsed)))
        delay = min(delay * backoff, max_interval)
