"""The Job controller: a new Job completes after a short delay, without running a pod (hook Jobs finish)."""
from __future__ import annotations

import logging

from .loop import ControlLoop
from .pods import now_rfc3339

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


class Jobs:
    def __init__(self, store, loop: ControlLoop, *, delay: float):
        self.store, self.loop, self.delay = store, loop, delay

    def added(self, job: dict) -> None:
        status = job.get("status") or {}
        if not (status.get("succeeded") or status.get("failed")):
            meta = job.get("metadata") or {}
            self.loop.after(self.delay, self._complete, meta.get("namespace", ""), meta.get("name", ""))

    def _complete(self, ns: str, name: str) -> None:
        job = self.store.get_or_none("jobs.batch", ns, name)
        status = (job or {}).get("status") or {}
        if job is None or status.get("succeeded") or status.get("failed"):
            return
        now = now_rfc3339()
        status.update({"startTime": status.get("startTime") or now, "completionTime": now, "succeeded": 1,
                       "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": now,
                                       "lastTransitionTime": now}]})
        try:
            self.store.update_status("jobs.batch", ns, name, status)
            log.info("job %s/%s completed", ns, name)
        except Exception:
            pass
