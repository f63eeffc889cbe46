"""States of a rollout that waiting will not heal: the step fails at the next look, naming the pod, its
state, reason and message, instead of waiting out `timeouts.step` (600 s by default) and then calling it
a timeout. The rules and their thresholds (docs/decisions.md, "Terminal states"):

- an image that cannot be pulled (`ErrImagePull` / `ImagePullBackOff`) for IMAGE_PULL_GRACE seconds: the
  kubelet retries after a 10 s back-off, so by then the second pull has failed too (a registry blip
  heals within one retry); `InvalidImageName` at once;
- `CrashLoopBackOff` once the container has restarted CRASH_RESTARTS times: it started and died three
  times with the same image and configuration;
- a pod the scheduler calls `Unschedulable` for UNSCHEDULABLE_GRACE seconds (an autoscaler may add a
  node in that time).

A pod that runs but answers DOWN, or starts slowly, is not terminal: it can recover, and the step waits.
The clock is this watch's own: "for N seconds" means seen so for N seconds by this run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")
IMAGE_PULL_GRACE = 10.0
CRASH_RESTARTS = 3
UNSCHEDULABLE_GRACE = 30.0


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

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.first_seen: dict[tuple, float] = {}

    def _held(self, key: tuple, now: float, grace: float, seen: set) -> bool:
        seen.add(key)
        return now - self.first_seen.setdefault(key, now) >= grace

    def check(self, state) -> Optional[Terminal]:
        now, seen, found = self.clock(), set(), None
        for pod in getattr(state, "pods", []):
            if pod.deleting:  # an old pod on its way out says nothing of the new version
                continue
            for c in getattr(pod, "containers", []):
                if c.state != "waiting":
                    continue
                if c.reason == "InvalidImageName" or (
                        c.reason in IMAGE_PULL_REASONS and self._held((pod.name, c.name, "pull"), now,
                                                                      IMAGE_PULL_GRACE, seen)):
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
            if unschedulable and self._held((pod.name, "", "unschedulable"), now, UNSCHEDULABLE_GRACE, seen):
                found = found or Terminal(pod.name, "", "Unschedulable", unschedulable.get("message", ""),
                                          "no node can take it: free or add capacity, or check its node selector "
                                          "and tolerations")
        for key in set(self.first_seen) - seen:  # healed, or gone: start counting again if it comes back
            del self.first_seen[key]
        return found
