"""The plan's releases as helm lists them: their actual names, what helm says of each, their values."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Mapping, Optional

from .plan import Step
from .redact import secret_like_values
from .report import StepFailed


@dataclass
class ReleaseView:
    """What helm says about a release (None fields when it is absent)."""

    name: str
    chart_name: Optional[str] = None
    chart_version: Optional[str] = None
    status: Optional[str] = None
    revision: Optional[int] = None

    @property
    def exists(self) -> bool:
        return self.status is not None

    def on_chart(self, version: str) -> bool:
        """Helm lists the release at that chart version, whatever its status (a failed or pending
        attempt at it included)."""
        return self.exists and self.chart_version == version

    def why_not_at_target(self, version: str) -> list[str]:
        """Why helm does not have the release deployed at `version` (empty: it does). THE "at target"
        rule: what helm says, not what runs (that is `rollout.RolloutState.reasons`)."""
        if not self.exists:
            return [f"{self.name} is not installed"]
        out = []
        if self.status != "deployed":
            out.append(f"{self.name} is {self.status}")
        if not self.on_chart(version):
            out.append(f"{self.name} is at chart {self.chart_version}, expected {version}")
        return out

    def at_target(self, version: str) -> bool:
        """Helm has the release deployed at that chart version."""
        return not self.why_not_at_target(version)


class Releases:
    """One `helm list` of the namespace per run and one `helm get values` per release, kept; a step
    lists only its own release again (`fresh`); names pinned by the env or found by chart."""

    def __init__(self, helm, pins: Mapping[str, str], redactor):
        self.helm = helm
        self.pins = dict(pins)  # default release name -> actual name (the env's `releases:`)
        self.redactor = redactor
        self._listed: Optional[list] = None
        self._values: dict[str, dict] = {}

    def listed(self) -> list:
        """Releases helm knows in the namespace (listed once per run); uninstalled ones (Helm 2 `list
        --all`) count as absent."""
        if self._listed is None:
            self._listed = [r for r in self.helm.list_releases() if r.status != "uninstalled"]
        return self._listed

    def name_of(self, step: Step) -> str:
        """The actual release name: pinned by the env, else found by chart, else the default."""
        pinned = self.pins.get(step.release)
        if pinned:
            return pinned
        by_chart = [r for r in self.listed() if r.chart_name == step.chart]
        if len(by_chart) == 1:
            return by_chart[0].name
        if len(by_chart) > 1:
            exact = [r for r in by_chart if r.name == step.release]
            if exact:
                return exact[0].name
            names = ", ".join(sorted(r.name for r in by_chart))
            raise StepFailed(f"several releases use chart {step.chart} ({names}); pin one under "
                             f"'releases: {{{step.release}: NAME}}' in the env file")
        return step.release

    def view(self, step: Step) -> ReleaseView:
        name = self.name_of(step)
        for r in self.listed():
            if r.name == name:
                return ReleaseView(name, r.chart_name, r.chart_version, r.status, r.revision)
        return ReleaseView(name)

    def fresh(self, step: Step) -> ReleaseView:
        """The step's own release listed again (a filtered `helm list`: the others are as the run's one
        listing found them), its values read afresh when next asked: before its helm call (a hand-made
        change since pre-flight is not lost) and after it."""
        name = self.name_of(step)
        fresh = [r for r in self.helm.list_releases(only=name) if r.status != "uninstalled"]
        self._listed = [r for r in self.listed() if r.name != name] + fresh
        self._values.pop(name, None)
        return self.view(step)

    def values(self, name: str) -> dict:
        """`helm get values` (read once until `refresh`: pre-flight's backup, its image-pin check and the
        database backup ask for the same), with every secret-looking value (passwords, tokens, keys) added
        to the redactor first, so that no dump or diff of them can show one."""
        if name not in self._values:
            values = self.helm.get_values(name)
            for secret in secret_like_values(values):
                self.redactor.add(secret)
            self._values[name] = values
        return copy.deepcopy(self._values[name])
