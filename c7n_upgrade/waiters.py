"""Waiting: a generic poller with backoff, and the typed release-rollout waiter.

`poll()` is the one loop every wait in the suite goes through. It returns the first observation
that satisfies the condition and, on timeout, raises `WaitTimeout` carrying the last observation so
that the report can show *why* it never got there. Clock and sleep are injectable for tests.

The release waiter follows the guide's check, made strict (choerodon-facts.md, trap 3): after a
helm call, **every** pod of the release must be Ready, carry the target `choerodon.io/version`
label and answer health UP; no pod may be terminating and no old-version pod may remain.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

__all__ = [
    "WaitTimeout",
    "ReleaseNotReady",
    "poll",
    "HealthResult",
    "RolloutState",
    "observe_release",
    "wait_for_release",
]


class WaitTimeout(Exception):
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


class ReleaseNotReady(WaitTimeout):
    """A release rollout did not finish in time; `last` is the last `RolloutState`."""


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


# --------------------------------------------------------------------------- release rollout


@dataclass
class HealthResult:
    """Minimal health observation; any object with `.status` (and optionally `.body`) will do."""

    status: str
    body: str = ""


@dataclass
class RolloutState:
    """One observation of a release during a rollout."""

    release: str = ""
    target_version: str = ""
    total: int = 0                                   # pods of the release (terminating included)
    ready: int = 0                                   # Ready and not terminating
    on_target_version: int = 0                       # pods labelled with the target version
    old_version_pods: list[str] = field(default_factory=list)   # "name (version)"
    deleting_pods: list[str] = field(default_factory=list)
    health_up: int = 0
    health_required: bool = True                     # False when the step has no health port
    health_bodies: dict[str, str] = field(default_factory=dict)  # pod name -> last health body/status
    pods: list[Any] = field(default_factory=list)    # the PodInfo objects observed
    errors: list[str] = field(default_factory=list)  # observation problems (probe errors, ...)

    @property
    def done(self) -> bool:
        if self.total < 1:
            return False
        if self.deleting_pods or self.old_version_pods:
            return False
        if self.ready != self.total or self.on_target_version != self.total:
            return False
        if self.health_required and self.health_up != self.total:
            return False
        return True

    def reasons(self) -> list[str]:
        """Why the rollout is not done yet (empty when done)."""
        out: list[str] = []
        if self.total < 1:
            out.append("no pod of the release exists")
        if self.ready != self.total:
            out.append(f"{self.total - self.ready} pod(s) not ready")
        if self.on_target_version != self.total:
            out.append(f"{self.total - self.on_target_version} pod(s) not on version {self.target_version}")
        if self.old_version_pods:
            out.append("old-version pod(s) left: " + ", ".join(self.old_version_pods))
        if self.deleting_pods:
            out.append("pod(s) terminating: " + ", ".join(self.deleting_pods))
        if self.health_required and self.total and self.health_up != self.total:
            out.append(f"health UP on {self.health_up}/{self.total} pod(s)")
        return out

    def summary(self) -> str:
        """Multi-line text for reports: the state, each pod, the last health bodies."""
        lines = [f"release {self.release} -> {self.target_version}: " + ("done" if self.done else "; ".join(self.reasons()))]
        for pod in self.pods:
            lines.append(
                f"  pod {getattr(pod, 'name', pod)}: phase={getattr(pod, 'phase', '?')} "
                f"ready={getattr(pod, 'ready', '?')} version={getattr(pod, 'version', '?')} "
                f"ip={getattr(pod, 'ip', '?')} deleting={getattr(pod, 'deleting', '?')}"
            )
        for name, body in self.health_bodies.items():
            lines.append(f"  health {name}: {body[:500]}")
        for err in self.errors:
            lines.append(f"  error: {err}")
        return "\n".join(lines)


def _probe_one(probe_health: Callable[[Any], Any], pod: Any) -> tuple[bool, str, str]:
    """(up, status, body text) for one pod; never raises."""
    try:
        result = probe_health(pod)
    except Exception as exc:  # a probe must never break the observation
        return False, "ERROR", f"{type(exc).__name__}: {exc}"
    status = str(getattr(result, "status", result) or "UNKNOWN")
    up = getattr(result, "up", None)
    if not isinstance(up, bool):  # objects without an `up` verdict: the status word decides
        up = status.upper() == "UP"
    body: Any = getattr(result, "body", None)
    if not isinstance(body, (str, bytes)) or not body:
        text = getattr(result, "text", None)  # e.g. probes.Health keeps the raw body in .text
        if isinstance(text, (str, bytes)) and text:
            body = text
        elif body not in (None, "", b""):
            try:
                body = json.dumps(body)
            except (TypeError, ValueError):
                body = str(body)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        body = status
    error = getattr(result, "error", None)
    if isinstance(error, str) and error and error not in body:
        body = f"{body} [{error}]"
    return up, status, body


def observe_release(
    kube: Any,
    probe_health: Callable[[Any], Any] | None,
    release: str,
    target_version: str,
    health_port: int | None,
    health_path: str = "/health",
    *,
    max_workers: int = 8,
) -> RolloutState:
    """Observe a release once: list its pods (by `choerodon.io/release`) and probe their health.

    `probe_health(pod)` is called for each pod that is not terminating (the caller binds port and
    path, e.g. `lambda pod: probes.health(pod.ip, 8061, "/health")`); it returns an object with
    `.status` ("UP", "DOWN", ...) and optionally `.up` (bool verdict, preferred over the status
    word), `.body`/`.text` and `.error` (e.g. `probes.Health`). Health is not required when
    `health_port` is None or `probe_health` is None (steps whose check is not a health check).
    Pods are probed in parallel when there is more than one.
    """
    pods = list(kube.pods_of_release(release))
    state = RolloutState(
        release=release,
        target_version=target_version,
        total=len(pods),
        health_required=health_port is not None and probe_health is not None,
        pods=pods,
    )
    for pod in pods:
        if pod.deleting:
            state.deleting_pods.append(pod.name)
        if pod.ready and not pod.deleting:
            state.ready += 1
        if pod.version == target_version:
            state.on_target_version += 1
        else:
            state.old_version_pods.append(f"{pod.name} ({pod.version or 'no version label'})")
    if state.health_required:
        live = [p for p in pods if not p.deleting]
        if len(live) > 1:
            with ThreadPoolExecutor(max_workers=min(max_workers, len(live)), thread_name_prefix="health") as pool:
                results = list(pool.map(lambda p: _probe_one(probe_health, p), live))
        else:
            results = [_probe_one(probe_health, p) for p in live]
        for pod, (up, status, body) in zip(live, results):
            state.health_bodies[pod.name] = body
            if up:
                state.health_up += 1
            elif status == "ERROR":
                state.errors.append(f"health probe of {pod.name} (port {health_port}, {health_path}): {body}")
    return state


def wait_for_release(
    observe: Callable[[], RolloutState],
    *,
    timeout: float,
    on_progress: Callable[[float, Optional[RolloutState]], None] | None = None,
    interval: float = 1.0,
    max_interval: float = 5.0,
    backoff: float = 1.5,
    retry_on: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    settle_checks: int = 1,
    settle_seconds: float = 0.0,
) -> RolloutState:
    """Poll `observe()` until the state is `done`; raise `ReleaseNotReady` (last state attached).

    With `settle_checks`/`settle_seconds`, `done` must hold for that many consecutive observations
    spanning at least that long, so a flapping service is not taken for a healthy one.
    """
    streak = {"count": 0, "since": 0.0}

    def settled(state: RolloutState) -> bool:
        if not state.done:
            streak["count"] = 0
            return False
        if streak["count"] == 0:
            streak["since"] = clock()
        streak["count"] += 1
        return streak["count"] >= settle_checks and clock() - streak["since"] >= settle_seconds

    try:
        return poll(
            observe,
            timeout=timeout,
            interval=interval,
            max_interval=max_interval,
            backoff=backoff,
            on_progress=on_progress,
            until=settled,
            hurry=lambda s: s.done,
            retry_on=retry_on,
            clock=clock,
            sleep=sleep,
        )
    except WaitTimeout as exc:
        last = exc.last
        if isinstance(last, RolloutState):
            why = "; ".join(last.reasons()) or "not done"
            message = f"release {last.release} not ready after {exc.elapsed:.0f}s: {why}"
        else:
            message = f"release not ready after {exc.elapsed:.0f}s (no observation)"
        if exc.last_error is not None:
            message += f"; last error: {exc.last_error}"
        raise ReleaseNotReady(exc.elapsed, last, message, last_error=exc.last_error) from None
