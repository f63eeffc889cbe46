"""States of a rollout that waiting will not heal: the step fails at the next look, naming the pod, its
state, reason and message, instead of waiting out `timeouts.step` (600 s by default) and then calling it
a timeout. The rules and their thresholds (docs/decisions.md, "Terminal states"):

- an image that cannot be pulled: `ErrImagePull` seen again after an `ImagePullBackOff` (the kubelet's
  retry after its back-off failed too: the second failed pull; a registry blip heals within one retry),
  or pulls failing for IMAGE_PULL_GRACE seconds when the looks miss that sequence; `InvalidImageName` at once;
- `CrashLoopBackOff` once the container has restarted CRASH_RESTARTS times: it started and died three
  times with the same image and configuration;
- a pod the scheduler calls `Unschedulable` for UNSCHEDULABLE_GRACE seconds (an autoscaler adds a node in
  a few minutes at most; the env's `timeouts.unschedulable` sets another grace).

Only the new version's pods are judged: an old pod the rollout will replace says nothing of the new one.
A pod that runs but answers DOWN, or starts slowly, is not terminal: it can recover, and the step waits.
The clock is this watch's own: "for N seconds" means seen so for N seconds by this run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")
IMAGE_PULL_GRACE = 60.0
CRASH_RESTARTS = 3
UNSCHEDULABLE_GRACE = 180.0


@dataclass(frozen=True)
class Terminal:
    """Why a pod will not become Ready by waiting."""

    pod: str
    container: str   # "" for the pod itself (unschedulable)
    reason: str      # ImagePullBackOff, CrashLoopBackOff, Unschedulable, ...
    message: str
    advice: str
    restarts: int = 0

    def describe(self) -> str:
        who = f"pod {self.pod}" + (f", container {self.container}" if self.container else "")
        said = f": {self.message}" if self.message else ""
        restarts = f" after {self.restarts} restarts" if self.restarts else ""
        return f"{who} is {self.reason}{restarts}{said}; {self.advice}"


class TerminalWatch:
    """`check(state)` on each observation of one rollout: the first terminal state seen, or None."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, unschedulable_grace: float = UNSCHEDULABLE_GRACE):
        self.clock, self.unschedulable_grace = clock, unschedulable_grace
        self.first_seen: dict[tuple, float] = {}
        self.pulls: dict[tuple, list[str]] = {}  # (pod, container) -> the pull reasons seen, changes only

    def _held(self, key: tuple, now: float, grace: float, seen: set) -> bool:
        seen.add(key)
        return now - self.first_seen.setdefault(key, now) >= grace

    def check(self, state) -> Optional[Terminal]:
        now, seen, found = self.clock(), set(), None
        for pod in getattr(state, "pods", []):
            if pod.deleting or pod.version != state.target_version:  # an old pod says nothing of the new one
                continue
            for c in getattr(pod, "containers", []):
                if c.state != "waiting":
                    continue
                pull_failed = False
                if c.reason in IMAGE_PULL_REASONS:  # both kept up to date at every look
                    second = self._second_failed_pull(pod.name, c, seen)
                    held = self._held((pod.name, c.name, "pull"), now, IMAGE_PULL_GRACE, seen)
                    pull_failed = second or held
                if c.reason == "InvalidImageName" or pull_failed:
                    found = found or Terminal(pod.name, c.name, c.reason, c.message,
                                              f"the image {c.image or '?'} cannot be pulled: is it in your registry, "
                                              "and can the nodes reach it?")
                elif c.reason == "CrashLoopBackOff" and c.restarts >= CRASH_RESTARTS:
                    found = found or Terminal(pod.name, c.name, c.reason, c.message,
                                              "the container exits at start: its last log lines are below",
                                              c.restarts)
            unschedulable = next((cond for cond in getattr(pod, "conditions", [])
                                  if cond.get("type") == "PodScheduled" and cond.get("status") == "False"
                                  and cond.get("reason") == "Unschedulable"), None)
            if unschedulable and self._held((pod.name, "", "unschedulable"), now, self.unschedulable_grace, seen):
                found = found or Terminal(pod.name, "", "Unschedulable", unschedulable.get("message", ""),
                                          "no node can take it: free or add capacity, or check its node selector "
                                          "and tolerations")
        for key in set(self.first_seen) - seen:  # healed, or gone: start counting again if it comes back
            del self.first_seen[key]
        for key in set(self.pulls) - seen:
            del self.pulls[key]
        return found

    def _second_failed_pull(self, pod: str, container, seen: set) -> bool:
        """ErrImagePull, then the back-off, then ErrImagePull again: the kubelet's retry failed too."""
        key = (pod, container.name)
        seen.add(key)
        reasons = self.pulls.setdefault(key, [])
        if not reasons or reasons[-1] != container.reason:
            reasons.append(container.reason)
        return "ImagePullBackOff" in reasons and reasons[-1] == "ErrImagePull"
