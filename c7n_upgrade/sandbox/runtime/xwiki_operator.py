"""The simulated operator's XWiki manual steps: run once, when steps 1-10 run their target versions
(the guide: XWiki 0.9.0 needs the 0.9.0 framework)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .pods import Kubelet

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


def steps_at_target(plan, after_step: int, pods: list[tuple[str, str]]) -> bool:
    """Whether every step up to `after_step` (but the XWiki ones) runs its target version: each of its
    chart's pods, given as (service, version), is on it, and there is at least one."""
    for step in plan.steps:
        if step.number > after_step or "xwiki" in step.operations:
            continue
        mine = [version for service, version in pods if service == step.chart]
        if not mine or not all(version == step.version for version in mine):
            return False
    return True


class XWikiOperator:
    def __init__(self, kubelet: Kubelet, plan, namespace: str, apply: Callable[[], Any], *, after_step: int = 10):
        self.kubelet, self.plan, self.namespace, self.apply = kubelet, plan, namespace, apply
        self.after_step = after_step
        self.done = False
        self._last_check = 0.0

    def check(self) -> None:
        """Called often (the readiness loop): looks at most once a second."""
        if self.done or self.plan is None:
            return
        now = time.monotonic()
        if now - self._last_check < 1.0:
            return
        self._last_check = now
        pods = [(p.service, p.version) for p in self.kubelet.live_pods() if p.namespace == self.namespace]
        if not steps_at_target(self.plan, self.after_step, pods):
            return
        self.done = True
        log.info("runtime: steps 1-%d are at their target versions; the simulated operator "
                 "applies the XWiki manual steps", self.after_step)
        threading.Thread(target=self._run, name="xwiki-operator", daemon=True).start()

    def _run(self) -> None:
        try:
            self.apply()
        except Exception:
            log.exception("runtime: XWiki operator failed")
