"""The simulated operator's XWiki manual steps: run once, when steps 1-10 run their target versions
(the guide: XWiki 0.9.0 needs the 0.9.0 framework)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .pods import Kubelet

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


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
        before = [s for s in self.plan.steps if s.number <= self.after_step and "xwiki" not in s.operations]
        pods = [p for p in self.kubelet.live_pods() if p.namespace == self.namespace]
        for step in before:
            mine = [p for p in pods if p.service == step.chart]
            if not mine or not all(p.version == step.version for p in mine):
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
