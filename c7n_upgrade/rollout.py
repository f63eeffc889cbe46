"""A release's rollout: one observation of it, the policy for waiting on it, and the wait.

The rule follows the guide's check, made strict (choerodon-facts.md, trap 3): **every** pod of the
release is Ready, carries the target `choerodon.io/version` label, runs an image tagged with the
target version (the Choerodon charts tag their images with the chart version: a label alone is not
what runs) and answers health UP (`probes.Health.up`, the only health verdict); no pod is
terminating and no old-version pod is left (`RolloutState.done`). A wait passes only once that has held for `settle_observations`
consecutive observations spanning at least `settle_seconds`, so a flapping service fails its step
instead of passing on a lucky probe. Pre-flight applies the same `done` to one observation.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

from .errors import C7nError
from .probes import Health, health_cause
from .terminal import UNSCHEDULABLE_GRACE
from .waiters import WaitTimeout, poll

T = TypeVar("T")

#: THE settle window's default (the env's `timeouts.settle` defaults to it too)
SETTLE_SECONDS = 10.0

#: how a pod's health is asked: pod -> Health (direct HTTP to the pod, or through the API server)
HealthProbe = Callable[[Any], Health]


@dataclass(frozen=True)
class RolloutPolicy:
    """How long and how often to look, and how long "done" must hold. Built by the wiring from the env."""

    timeout: float                  # seconds a step may take (helm call + rollout + health)
    poll_max: float = 0.5           # the longest pause between two observations
    interval: float = 0.2           # the first pause, and the pause while confirming a done state
    backoff: float = 1.3            # each pause grows by this factor up to poll_max
    settle_observations: int = 3    # consecutive done observations ...
    settle_seconds: float = SETTLE_SECONDS  # ... spanning at least this long (the env's timeouts.settle)
    unschedulable_grace: float = UNSCHEDULABLE_GRACE  # a pod Unschedulable this long fails the step (timeouts.unschedulable)


class Streak:
    """Consecutive done observations: settled once `settle_observations` of them span at least
    `settle_seconds` (the one settle rule: `confirm`, `wait` and `observe_over_window` count with it).
    `since`: when the streak began (None: at its first done observation)."""

    def __init__(self, policy: RolloutPolicy, clock: Callable[[], float], since: Optional[float] = None):
        self.policy, self.clock, self.since, self.count = policy, clock, since, 0

    def add(self, done: bool) -> bool:
        """Count one observation; True once the streak has settled. One not done starts it over."""
        if not done:
            self.count, self.since = 0, None
            return False
        if self.since is None:
            self.since = self.clock()
        self.count += 1
        return self.count >= self.policy.settle_observations and self.elapsed() >= self.policy.settle_seconds

    def elapsed(self) -> float:
        return self.clock() - self.since if self.since is not None else 0.0


@dataclass
class RolloutState:
    """One observation of a release during a rollout."""

    release: str = ""
    target_version: str = ""
    total: int = 0                                   # pods of the release (terminating included)
    ready: int = 0                                   # Ready and not terminating
    on_target_version: int = 0                       # pods labelled with the target version
    old_version_pods: list[str] = field(default_factory=list)   # "name (version)"
    wrong_image_pods: list[str] = field(default_factory=list)   # "name (image)": runs another version's image
    deleting_pods: list[str] = field(default_factory=list)
    health_up: int = 0
    health_required: bool = True                     # False when the step has no health port
    health_bodies: dict[str, str] = field(default_factory=dict)  # pod name -> last health body/status
    not_up: dict[str, str] = field(default_factory=dict)         # pods whose answer was not UP -> its status
    not_up_causes: dict[str, str] = field(default_factory=dict)  # those pods -> probes.health_cause (one line)
    pods: list[Any] = field(default_factory=list)    # the PodInfo objects observed

    @property
    def done(self) -> bool:
        return not self.reasons()

    def reasons(self) -> list[str]:
        """Why the rollout is not done yet (empty when done): THE rollout rule."""
        out: list[str] = []
        if self.total < 1:
            out.append("no pod of the release exists")
        if self.ready != self.total:
            out.append(f"{self.total - self.ready} pod(s) not ready")
        if self.on_target_version != self.total:
            out.append(f"{self.total - self.on_target_version} pod(s) not on version {self.target_version}")
        if self.old_version_pods:
            out.append("old-version pod(s) left: " + ", ".join(self.old_version_pods))
        if self.wrong_image_pods:
            out.append(f"pod(s) running an image not tagged {self.target_version}: " + ", ".join(self.wrong_image_pods))
        if self.deleting_pods:
            out.append("pod(s) terminating: " + ", ".join(self.deleting_pods))
        if self.health_required and self.total and self.health_up != self.total:
            out.append(f"health UP on {self.health_up}/{self.total} pod(s)")
        return out

    def not_ready(self) -> list[str]:
        """The pods not Ready or terminating, as "name (version)", for a line that names them."""
        return [f"{p.name} ({_pod_state(p)})" for p in self.pods if not p.ready or p.deleting]


def _pod_state(pod) -> str:
    """A pod's version and state as `kubectl get po` would let one see it: phase, waiting containers,
    restarts, terminating."""
    parts = [pod.version or "no version label", getattr(pod, "phase", None) or "?"]
    parts += list(getattr(pod, "waiting", None) or [])
    if getattr(pod, "restart_count", 0):
        parts.append(f"{pod.restart_count} restart(s)")
    if pod.deleting:
        parts.append("terminating")
    return ", ".join(parts)


class RolloutNotDone(WaitTimeout):
    """A rollout did not finish in time; `last` is the last `RolloutState`."""


class RolloutUnstable(C7nError):
    """Kubernetes' history shows the release unstable after its pods were Ready (`stability.py`):
    waiting cannot undo it. `problems` says what it recorded; `last` is the observation."""

    def __init__(self, problems: list[str], last: RolloutState, elapsed: float):
        super().__init__("; ".join(problems))
        self.problems, self.last, self.elapsed = problems, last, elapsed


#: what Kubernetes recorded of a release's pods since they were Ready (`StabilityWatch.look`): state -> problems
History = Callable[[RolloutState], list]


class RolloutTerminal(C7nError):
    """A rollout reached a state waiting will not heal (`terminal.Terminal`), seen in `last`."""

    def __init__(self, terminal, last: RolloutState, elapsed: float):
        super().__init__(terminal.describe())
        self.terminal, self.last, self.elapsed = terminal, last, elapsed


def _ask(probe: HealthProbe, pod: Any) -> Health:
    """The pod's health; a probe that raises gives status ERROR (an observation never breaks)."""
    try:
        return probe(pod)
    except Exception as exc:
        return Health("ERROR", error=f"{type(exc).__name__}: {exc}")


def _shown(health: Health) -> str:
    """What the report shows of one answer: the raw body (or its status), and any error."""
    text = health.text or (json.dumps(health.body) if health.body else "") or health.status
    if health.error and health.error not in text:
        text = f"{text} [{health.error}]"
    return text


def observe(
    pods: list,
    probe: Optional[HealthProbe],
    release: str,
    target_version: str,
    health_port: Optional[int],
    *,
    max_workers: int = 8,
) -> RolloutState:
    """One observation of a release from its pods (listed by `choerodon.io/release`) and their health.

    `probe(pod)` is called for each pod that is not terminating, in parallel when there are several.
    Health is not required when `health_port` or `probe` is None (steps the guide checks otherwise).
    """
    pods = list(pods)
    state = RolloutState(release=release, target_version=target_version, total=len(pods),
                         health_required=health_port is not None and probe is not None, pods=pods)
    for pod in pods:
        if pod.deleting:
            state.deleting_pods.append(pod.name)
        if pod.ready and not pod.deleting:
            state.ready += 1
        if pod.version == target_version:
            state.on_target_version += 1
        else:
            state.old_version_pods.append(f"{pod.name} ({pod.version or 'no version label'})")
        tag = getattr(pod, "image_tag", None)
        if tag is not None and tag != target_version and not pod.deleting:
            state.wrong_image_pods.append(f"{pod.name} ({pod.images[0]})")
    if state.health_required:
        live = [p for p in pods if not p.deleting]
        if len(live) > 1:
            with ThreadPoolExecutor(max_workers=min(max_workers, len(live)), thread_name_prefix="health") as pool:
                answers = list(pool.map(lambda p: _ask(probe, p), live))
        else:
            answers = [_ask(probe, p) for p in live]
        for pod, health in zip(live, answers):
            state.health_bodies[pod.name] = _shown(health)
            if health.up:
                state.health_up += 1
                continue
            state.not_up[pod.name] = health.status
            state.not_up_causes[pod.name] = health_cause(health)
    return state


def confirm(
    observe_once: Callable[[], RolloutState],
    policy: RolloutPolicy,
    *,
    history: History | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutState:
    """The settled observation a `wait` ends with, without waiting for a rollout: the state must be
    `done` in `settle_observations` consecutive observations spanning `settle_seconds`. The first
    observation that is not done raises `RolloutNotDone` (a dry run's and a resume's read-only verdict);
    one whose `history` finds instability raises `RolloutUnstable`."""
    streak = Streak(policy, clock, since=clock())
    while True:
        state = observe_once()
        _check_history(history, state, streak.elapsed())
        if not state.done:
            why = "; ".join(state.reasons()) or "not done"
            raise RolloutNotDone(streak.elapsed(), state, f"release {state.release} is not rolled out to "
                                                          f"{state.target_version}: {why}")
        if streak.add(True):
            return state
        sleep(policy.interval)


def wait(
    observe_once: Callable[[], RolloutState],
    policy: RolloutPolicy,
    *,
    on_progress: Callable[[float, Optional[RolloutState]], None] | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    terminal: Callable[[RolloutState], Any] | None = None,
    history: History | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutState:
    """Observe until the state is `done` and has settled; raise `RolloutNotDone` (last state attached),
    `RolloutTerminal` at the first observation `terminal(state)` finds will not heal, or `RolloutUnstable`
    at the first one whose `history` shows a pod unstable after it was Ready."""
    streak = Streak(policy, clock)
    started = clock()

    def settled(state: RolloutState) -> bool:
        _check_history(history, state, clock() - started)
        stuck = terminal(state) if terminal is not None and not state.done else None
        if stuck is not None:
            raise RolloutTerminal(stuck, state, clock() - started)
        return streak.add(state.done)

    try:
        return poll(observe_once, timeout=policy.timeout, interval=policy.interval, max_interval=policy.poll_max,
                    backoff=policy.backoff, on_progress=on_progress, until=settled, hurry=lambda s: s.done,
                    retry_on=retry_on, clock=clock, sleep=sleep)
    except WaitTimeout as exc:
        last = exc.last
        if isinstance(last, RolloutState):
            why = "; ".join(last.reasons()) or "not done"
            message = f"release {last.release} not ready after {exc.elapsed:.0f}s: {why}"
        else:
            message = f"release not ready after {exc.elapsed:.0f}s (no observation)"
        if exc.last_error is not None:
            message += f"; last error: {exc.last_error}"
        raise RolloutNotDone(exc.elapsed, last, message, last_error=exc.last_error) from None


def _check_history(history: History | None, state: RolloutState, elapsed: float) -> None:
    problems = history(state) if history is not None else []
    if problems:
        raise RolloutUnstable(problems, state, elapsed)


def observe_over_window(
    observe_once: Callable[[], T],
    policy: RolloutPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[T]:
    """Observations of a state that should already hold (the post-upgrade proof), spread over the
    settle window: at least `settle_observations`, about twenty at most, the first one at once.
    One answer per pod proves little about a service that flaps; a window's worth does."""
    pause = max(policy.interval, policy.settle_seconds / 20)
    streak = Streak(policy, clock, since=clock())
    seen = [observe_once()]
    while not streak.add(True):
        sleep(pause)
        seen.append(observe_once())
    return seen
