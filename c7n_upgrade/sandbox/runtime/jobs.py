"""The Job controller: a new Job completes after a short delay, without running a pod (hook Jobs finish).

A Job whose release has a fault that fails its hooks (`Fault.fails_hooks`, the hook-fail kind) runs
pods instead, as the Job controller does: `<job>-<rand5>` with the labels `controller-uid` and
`job-name`, one at a time; each failed pod counts in `status.failed`, the next one starts after the
Job back-off (10 s, doubling, times the runtime's back-off scale), and once more pods failed than
`backoffLimit` (default 6) the Job gets the condition Failed (BackoffLimitExceeded).
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from . import events
from .loop import ControlLoop
from .pods import now_rfc3339

log = logging.getLogger("c7n_upgrade.sandbox.runtime")

POD_CHECK = 0.1   # seconds between two looks at a Job's running pod


class Jobs:
    """fault_of(job): the fault of the Job's release (None before the bootstrap); run_pod(job, fault):
    the pod the Job runs now (a PodInfo); backoff(n): the n-th back-off (kubelet's shape, scaled)."""

    def __init__(self, store, loop: ControlLoop, *, delay: float, fault_of: Callable = lambda job: None,
                 run_pod: Optional[Callable] = None, backoff: Callable[[int], float] = lambda n: 10.0 * 2 ** n):
        self.store, self.loop, self.delay = store, loop, delay
        self.fault_of, self.run_pod, self.backoff = fault_of, run_pod, backoff

    def added(self, job: dict) -> None:
        status = job.get("status") or {}
        if status.get("succeeded") or status.get("failed"):
            return
        meta = job.get("metadata") or {}
        fault = self.fault_of(job)
        if fault is not None and fault.fails_hooks() and self.run_pod is not None:
            self.loop.submit(self._start_pod, meta.get("namespace", ""), meta.get("name", ""), fault)
        else:
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
        self._write(ns, name, status)
        log.info("job %s/%s completed", ns, name)

    # ------------------------------------------------------------------ a Job that runs its pods
    def _start_pod(self, ns: str, name: str, fault) -> None:
        job = self.store.get_or_none("jobs.batch", ns, name)
        if job is None or self.loop.stopped.is_set():
            return
        pod = self.run_pod(job, fault)
        events.record(self.store, events.involved(job), "SuccessfulCreate", f"Created pod: {pod.name}",
                      component="job-controller")
        status = job.get("status") or {}
        self._write(ns, name, {**status, "startTime": status.get("startTime") or now_rfc3339(), "active": 1})
        self.loop.after(POD_CHECK, self._watch, ns, name, job["metadata"].get("uid"), pod, fault)

    def _watch(self, ns: str, name: str, uid: str, pod, fault) -> None:
        job = self.store.get_or_none("jobs.batch", ns, name)
        if job is None or job["metadata"].get("uid") != uid or pod.deleted or self.loop.stopped.is_set():
            return
        phase = pod.status.get("phase")
        if phase not in ("Succeeded", "Failed"):
            self.loop.after(POD_CHECK, self._watch, ns, name, uid, pod, fault)
            return
        status = dict(job.get("status") or {})
        status.pop("active", None)
        now = now_rfc3339()
        if phase == "Succeeded":
            self._write(ns, name, {**status, "succeeded": 1, "completionTime": now, "conditions": [
                {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now}]})
            return
        failed = int(status.get("failed") or 0) + 1
        limit = (job.get("spec") or {}).get("backoffLimit")
        if failed <= (6 if limit is None else int(limit)):
            self._write(ns, name, {**status, "failed": failed})
            self.loop.after(self.backoff(failed - 1), self._start_pod, ns, name, fault)
            return
        message = "Job has reached the specified backoff limit"
        self._write(ns, name, {**status, "failed": failed, "conditions": [
            {"type": "Failed", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
             "reason": "BackoffLimitExceeded", "message": message}]})
        events.record(self.store, events.involved(job), "BackoffLimitExceeded", message, component="job-controller")
        log.info("job %s/%s failed (%d pods failed)", ns, name, failed)

    def _write(self, ns: str, name: str, status: dict) -> None:
        try:
            self.store.update_status("jobs.batch", ns, name, status)
        except Exception:
            pass   # deleted meanwhile
