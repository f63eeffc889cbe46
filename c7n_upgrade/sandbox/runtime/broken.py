"""Pods a fault keeps from running (faults.PodFailure), as a kubelet and a scheduler report them:

- image: each pull fails (events Pulling, `Failed to pull image "…": …: not found`, `Error: ErrImagePull`;
  waiting ErrImagePull); the next sync, PULL_SYNC s later, shows ImagePullBackOff (`Back-off pulling
  image`) until the back-off ends, then it pulls again: ErrImagePull, ImagePullBackOff, ErrImagePull, …
- crash: the container starts, logs the failure's output and exits with its code RUN_SECONDS later
  (terminated Error). restartPolicy Never: the pod ends Failed. Otherwise it restarts at once the first
  time, then waits out the back-off in CrashLoopBackOff (lastState terminated; restartCount counts the
  restarts); `logs --previous` is the last run's output (`previous_log`).
- unschedulable: Pending, no node, PodScheduled=False (Unschedulable, the failure's message) and a
  FailedScheduling event; the scheduler tries again every SCHEDULE_RETRY s.

The back-off is the kubelet's (BACKOFF_BASE s, doubling, BACKOFF_CAP at most) times `scale`: the shape
kept, the sandbox faster. Each attempt asks `still(pod)` whether the fault still holds: once it is
cleared, the next pull, start or scheduling attempt succeeds and the pod starts as any other.
"""
from __future__ import annotations

import copy
import hashlib
import threading
from typing import Callable, Optional

from ..faults import PodFailure
from . import events
from .pods import Kubelet, PodInfo, _pending_status, log_text, now_rfc3339

BACKOFF_BASE, BACKOFF_CAP = 10.0, 300.0
PULL_SYNC = 1.0        # seconds ErrImagePull shows before the next sync reports the back-off
RUN_SECONDS = 0.5      # how long a crashing container runs before it exits
RESTART_SYNC = 0.2     # seconds a first crash shows terminated before the kubelet restarts it
SCHEDULE_RETRY = 1.0


def duration(seconds: float) -> str:
    """Go's time.Duration printing for whole seconds: 10s, 1m20s, 5m0s."""
    s = int(seconds)
    return f"{s // 60}m{s % 60}s" if s >= 60 else f"{s}s"


class BrokenStarts:
    def __init__(self, kubelet: Kubelet, still: Callable[[PodInfo], bool], scale: float = 0.1):
        self.kubelet, self.loop, self.store = kubelet, kubelet.loop, kubelet.store
        self.still, self.scale = still, scale
        self._previous: dict[tuple, list[str]] = {}   # pod key -> its container's last run's log
        self._lock = threading.Lock()

    def backoff(self, n: int) -> float:
        """The n-th back-off (n = 0, 1, …): 10 s, 20 s, 40 s, … 5 min, times the scale."""
        return min(BACKOFF_BASE * 2 ** n, BACKOFF_CAP) * self.scale

    # ------------------------------------------------------------------ the kubelet's calls
    @staticmethod
    def unscheduled(status: dict, message: str) -> dict:
        """The status of a pod no node takes: Pending, only PodScheduled=False."""
        return {"phase": "Pending", "qosClass": status.get("qosClass", "BestEffort"),
                "conditions": [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                "lastTransitionTime": now_rfc3339(), "reason": "Unschedulable", "message": message}]}

    def begin(self, pod: PodInfo, failure, delay: float) -> None:
        """Drive a pod just created with `failure` (its status already the unscheduled one if so)."""
        if failure.how == "unschedulable":
            self._new_log(pod)                         # no node: nothing runs, nothing logs
            self.kubelet.event(pod, "FailedScheduling", failure.message, component="default-scheduler")
            self.loop.after(SCHEDULE_RETRY, self._schedule, pod, failure)
        elif failure.how == "image":
            self.loop.after(delay, self._pull, pod, failure, 0)
        else:
            self.loop.after(delay, self._run, pod, failure, 0)

    def previous_log(self, namespace: str, name: str, tail: Optional[int] = None) -> Optional[str]:
        """`logs --previous`: the container's last run (None: no run of it ended here)."""
        with self._lock:
            lines = self._previous.get((namespace, name))
        return None if lines is None else log_text(lines, tail)

    # ------------------------------------------------------------------ helpers
    def _live(self, pod: PodInfo) -> bool:
        if pod.deleted:
            with self._lock:
                self._previous.pop(pod.key, None)
        return self.kubelet.pod(*pod.key) is pod and not pod.deleted and not self.loop.stopped.is_set()

    def _container(self, pod: PodInfo) -> dict:
        return pod.status["containerStatuses"][0]

    def _image(self, pod: PodInfo) -> str:
        return pod.spec.get("containers", [{}])[0].get("image", "")

    def _new_log(self, pod: PodInfo) -> None:
        """A new container: its log starts empty (the last run's stays as `previous`)."""
        with self.kubelet._log_appended:
            pod.log.clear()

    def _ended(self, pod: PodInfo) -> None:
        with self._lock:
            self._previous[pod.key] = list(pod.log)

    def _heal(self, pod: PodInfo) -> None:
        """The fault is gone: the pod starts as any other (its restarts and last state kept)."""
        self._new_log(pod)
        self.kubelet.log(pod, "INFO  the sandbox fault is cleared: the container starts")
        self.kubelet._start_pod(pod.key, pod)

    # ------------------------------------------------------------------ image
    def _pull(self, pod: PodInfo, failure, n: int) -> None:
        if not self._live(pod):
            return
        image = self._image(pod)
        self.kubelet.event(pod, "Pulling", f'Pulling image "{image}"')
        if not self.still(pod):
            self._heal(pod)
            return
        message = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
                   f'failed to resolve reference "{image}": {image}: not found')
        self.kubelet.event(pod, "Failed", f'Failed to pull image "{image}": {message}')
        self.kubelet.event(pod, "Failed", "Error: ErrImagePull")
        self._container(pod)["state"] = {"waiting": {"reason": "ErrImagePull", "message": message}}
        self.kubelet.write_status(pod)
        wait = self.backoff(n)
        self.loop.after(min(PULL_SYNC, wait / 2), self._pull_backoff, pod, image, message)
        self.loop.after(wait, self._pull, pod, failure, n + 1)

    def _pull_backoff(self, pod: PodInfo, image: str, message: str) -> None:
        if not self._live(pod) or (self._container(pod).get("state") or {}).get("waiting", {}).get("reason") \
                != "ErrImagePull":
            return
        said = f'Back-off pulling image "{image}"'
        self._container(pod)["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                                     "message": f"{said}: ErrImagePull: {message}"}}
        self.kubelet.write_status(pod)
        self.kubelet.event(pod, "BackOff", said)
        self.kubelet.event(pod, "Failed", "Error: ImagePullBackOff")

    # ------------------------------------------------------------------ crash
    def _run(self, pod: PodInfo, failure, restarts: int) -> None:
        if not self._live(pod):
            return
        if not self.still(pod):
            if pod.spec.get("restartPolicy") != "Never":
                self._heal(pod)
                return
            failure = PodFailure("crash", exit_code=0)      # a Job's pod: it runs and succeeds
        now, cs = now_rfc3339(), self._container(pod)
        self._new_log(pod)
        if "terminated" in cs.get("state", {}):      # restarted at once: the run that ended is the last state
            cs["lastState"] = {"terminated": cs["state"]["terminated"]}
        cid = "containerd://" + hashlib.sha256(f"{pod.uid}/{restarts}/{now}".encode()).hexdigest()
        cs.update(state={"running": {"startedAt": now}}, restartCount=restarts, started=True, ready=False,
                  containerID=cid)
        pod.status["phase"] = "Running"
        self.kubelet.write_status(pod)
        self.kubelet.event(pod, "Pulled", f'Container image "{self._image(pod)}" already present on machine')
        self.kubelet.event(pod, "Created", f"Created container {cs['name']}")
        self.kubelet.event(pod, "Started", f"Started container {cs['name']}")
        for line in failure.output:
            self.kubelet.log(pod, line)
        self.loop.after(RUN_SECONDS, self._exit, pod, failure, restarts)

    def _exit(self, pod: PodInfo, failure, restarts: int) -> None:
        if not self._live(pod):
            return
        cs = self._container(pod)
        started = (cs.get("state") or {}).get("running", {}).get("startedAt", now_rfc3339())
        code = failure.exit_code
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
                      "finishedAt": now_rfc3339(), "containerID": cs.get("containerID", "")}
        cs.update(started=False, ready=False)
        if pod.spec.get("restartPolicy", "Always") == "Never":
            cs["state"] = {"terminated": terminated}
            pod.status["phase"] = "Succeeded" if code == 0 else "Failed"
            self.kubelet.write_status(pod)
            return
        if restarts == 0:        # not in back-off yet: the kubelet restarts it at once
            cs["state"] = {"terminated": terminated}
            self.kubelet.write_status(pod)
            self._ended(pod)
            self.loop.after(RESTART_SYNC, self._run, pod, failure, 1)
            return
        wait = self.backoff(restarts - 1)
        cs.update(state={"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off {duration(wait)} restarting failed container={cs['name']} "
            f"pod={pod.name}_{pod.namespace}({pod.uid})")}}, lastState={"terminated": terminated})
        self._ended(pod)
        self.kubelet.write_status(pod)
        self.kubelet.event(pod, "BackOff", f"Back-off restarting failed container {cs['name']} in pod "
                                           f"{pod.name}_{pod.namespace}({pod.uid})")
        self.loop.after(wait, self._run, pod, failure, restarts + 1)

    # ------------------------------------------------------------------ unschedulable
    def _schedule(self, pod: PodInfo, failure) -> None:
        if not self._live(pod):
            return
        if self.still(pod):
            self.loop.after(SCHEDULE_RETRY, self._schedule, pod, failure)
            return
        pod.spec["nodeName"] = events.NODE
        try:
            self.store.patch("pods", pod.namespace, pod.name, {"spec": {"nodeName": events.NODE}}, "merge")
        except Exception:
            return                                     # deleted meanwhile
        containers = pod.spec.get("containers") or [{}]
        status = _pending_status(pod.ip, containers[0], containers, pod.name)
        status["qosClass"] = pod.status.get("qosClass", status["qosClass"])
        pod.status = copy.deepcopy(status)
        self.kubelet.write_status(pod)
        self.kubelet.event(pod, "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {events.NODE}",
                           component="default-scheduler")
        self.loop.after(0.0, self.kubelet._start_pod, pod.key, pod)
