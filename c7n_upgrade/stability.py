"""Kubernetes' own history of a release's pods: a look at its pods now says nothing of what happened
between two looks. A release is stable only when, since each of its pods first became Ready, Kubernetes
saw no container restart, no Ready condition that went false (or went false and back), and no
`Unhealthy` probe event. A flap slower than the settle window shows there later, so the run keeps
watching every release it upgraded until it ends (`StabilityWatch.look` at each later step).

The marks are this run's: a pod is marked when first seen Ready (its restarts, its Ready condition's
last transition, its Unhealthy events so far). Before that mark, Kubernetes' history is read once:
`Unhealthy` events later than the pod's last Ready transition (the kubelet's clock on both) mean a probe
failed while it was Ready. Restarts and failed probes before a pod's first Ready are its start, not
instability: a slow start is waited for, a crash loop is a terminal state (`terminal.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from .report import StepFailed

UNSTABLE_REASONS = ("Unhealthy",)  # the kubelet's event for a failed readiness or liveness probe
UNHEALTHY_PODS = "involvedObject.kind=Pod,reason=Unhealthy"  # the field selector that asks only for those


@dataclass(frozen=True)
class PodMark:
    """A pod as this run first saw it Ready."""

    restarts: int
    ready_since: str   # its Ready condition's lastTransitionTime
    unhealthy: dict    # its Unhealthy events then: event name -> count (an event that expires says nothing)


def ready_since(pod) -> str:
    """The lastTransitionTime of the pod's Ready condition ("" when unknown)."""
    return next((str(c.get("lastTransitionTime") or "") for c in getattr(pod, "conditions", [])
                 if c.get("type") == "Ready"), "")


@dataclass
class ProbeFailures:
    """A pod's Unhealthy events (name -> count: a real kubelet counts up one event, the sandbox makes one per
    failure), and the last one's time and message."""

    events: dict = field(default_factory=dict)
    last: str = ""
    message: str = ""

    @property
    def count(self) -> int:
        return sum(self.events.values())

    def since(self, mark: dict) -> int:
        """Failures counted after `mark` (an earlier `events`)."""
        return sum(max(0, n - mark.get(name, 0)) for name, n in self.events.items())


def probe_failures(events: Iterable[dict]) -> dict[str, ProbeFailures]:
    """Pod name -> its Unhealthy events, from a namespace's event list."""
    out: dict[str, ProbeFailures] = {}
    for ev in events:
        obj = ev.get("involvedObject") or {}
        if obj.get("kind") != "Pod" or ev.get("reason") not in UNSTABLE_REASONS:
            continue
        seen = out.setdefault(str(obj.get("name") or ""), ProbeFailures())
        name = str((ev.get("metadata") or {}).get("name") or len(seen.events))
        seen.events[name] = int(ev.get("count") or 1)
        when = str(ev.get("lastTimestamp") or ev.get("eventTime") or "")
        if when >= seen.last:
            seen.last, seen.message = when, str(ev.get("message") or "").strip()
    return out


def recorded(problems: list[str], limit: int = 3) -> str:
    """What Kubernetes recorded, on one line: the first `limit` problems."""
    shown = problems[:limit] + ([f"+{len(problems) - limit} more"] if len(problems) > limit else [])
    return "Kubernetes recorded, after its pods were Ready: " + "; ".join(shown)


class EarlierStepUnstable(StepFailed):
    """A release an earlier step upgraded became unstable after its step: the failure is that step's
    (`earlier_step`), wherever the run saw it. Services that need it (config-server, the registry) go DOWN with it."""

    def __init__(self, step: int, release: str, problems: list[str]):
        super().__init__(f"{release} became unstable after its step: {recorded(problems)}")
        self.earlier_step, self.release = step, release


@dataclass
class StabilityWatch:
    """The marks of every release this run watched."""

    marks: dict[str, dict[str, PodMark]] = field(default_factory=dict)  # release -> pod -> mark
    following: dict[str, tuple[str, int]] = field(default_factory=dict)  # release -> (version, its step)
    checked: set = field(default_factory=set)  # where the run looked again: (phase, step)

    def follow(self, release: str, version: str, step: int) -> None:
        """Keep watching `release` on `version` (upgraded by `step`) until the run ends."""
        self.following[release] = (version, step)

    def recheck(self, pods_by_release: dict[str, list], failures: dict[str, ProbeFailures],
                skip_step: int | None = None) -> list[tuple[int, str, list[str]]]:
        """Every followed release but `skip_step`'s, looked at again: (step, release, problems) of the
        unstable ones, in step order."""
        out = []
        for release, (version, step) in sorted(self.following.items(), key=lambda kv: kv[1][1]):
            if step != skip_step and self.marks.get(release):
                problems = self.look(release, version, pods_by_release.get(release, []), failures)
                if problems:
                    out.append((step, release, problems))
        return out

    def earliest_unstable(self, pods_by_release: dict[str, list], failures: dict[str, ProbeFailures],
                          skip_step: int | None = None) -> Optional[EarlierStepUnstable]:
        """The failure of the first followed release (but `skip_step`'s) that is unstable now, or None."""
        found = self.recheck(pods_by_release, failures, skip_step)
        return EarlierStepUnstable(*found[0]) if found else None

    def look(self, release: str, version: str, pods: list, failures: dict[str, ProbeFailures], *,
             done: bool = True) -> list[str]:
        """The instabilities of `release`'s pods on `version` seen now: `pods` as listed now, `failures` as
        `probe_failures` of the namespace's events read now. Pods are marked only once the rollout is `done`
        (its last pods are the ones to watch: a rollout at the same version label replaces Ready pods)."""
        marks = self.marks.setdefault(release, {})
        if not marks and not done:
            return []
        problems: list[str] = []
        live = [p for p in pods if p.version == version and not p.deleting]
        for pod in live:
            failed = failures.get(pod.name, ProbeFailures())
            mark = marks.get(pod.name)
            if mark is None:
                if pod.ready:
                    since = ready_since(pod)
                    marks[pod.name] = PodMark(pod.restart_count, since, dict(failed.events))
                    if failed.count and since and failed.last > since:
                        problems.append(f"pod {pod.name}: a probe failed after it became Ready "
                                        f"({failed.last}: {failed.message})")
                continue
            problems += _changes(pod, mark, failed)
        gone = sorted(set(marks) - {p.name for p in live})
        if gone:
            problems.append(f"pod(s) {', '.join(gone)} gone after they were Ready"
                            + (f" (now: {', '.join(p.name for p in live)})" if live else ""))
        return problems


def _changes(pod, mark: PodMark, failed: ProbeFailures) -> list[str]:
    """What Kubernetes recorded of a marked pod since its mark."""
    out = []
    if pod.restart_count > mark.restarts:
        out.append(f"pod {pod.name} restarted {pod.restart_count - mark.restarts} time(s) after it was Ready")
    if not pod.ready:
        out.append(f"pod {pod.name} went from Ready to not Ready at {ready_since(pod) or '?'}")
    elif ready_since(pod) != mark.ready_since:
        out.append(f"pod {pod.name} went from Ready to not Ready and back (Ready again at {ready_since(pod) or '?'})")
    if failed.since(mark.unhealthy):
        out.append(f"pod {pod.name}: {failed.since(mark.unhealthy)} failed probe(s) after it was Ready "
                   f"(last {failed.last}: {failed.message})")
    return out
