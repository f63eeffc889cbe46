"""The kubelet's other half: pods the runtime did not create itself (a client's `kubectl run` or helper
pod, or another controller's pod) are scheduled to the sandbox's node and run, as a kubelet runs any
pod bound to its node.

- The first container's image names a chart of the plan (`.../iam-service:0.9.0`), or the pod carries
  `choerodon.io/service`: it runs as that Choerodon service, exactly like a Deployment's pod (HTTP on
  its container ports, Ready when its health is UP).
- Any other image is a generic container (no listeners; Ready once running, having no probe). Its
  command (`command`, else `args`) runs as containers.py answers it: the commands the sandbox knows do
  what they say (`sleep N` runs N seconds), any other exits 0 after COMMAND_SECONDS; with no command
  (the image's own entrypoint) it stays Running.
- A container that exits ends the pod Succeeded (exit 0) or Failed under restartPolicy Never (and
  OnFailure for exit 0); under Always (the default) it waits in CrashLoopBackOff, restarted once.
- A pod bound to another node (`spec.nodeName`) stays Pending: the sandbox has one node.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Optional

from .containers import COMMAND_SECONDS, NODE_NAME, container_of
from .pods import (LABEL_METRICS, LABEL_SERVICE, LABEL_VERSION, Kubelet, PodInfo, _pending_status, now_rfc3339,
                   running_version)

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


class BarePods:
    """charts: {chart name: its health port} of the plan (the images the sandbox knows)."""

    def __init__(self, store, kubelet: Kubelet, charts: dict[str, Optional[int]], *, start_delay: tuple):
        self.store, self.kubelet, self.loop = store, kubelet, kubelet.loop
        self.charts, self.start_delay = charts, start_delay

    def adopt(self, obj: dict) -> None:
        """A pod object appeared: run it unless the kubelet already does (or it is not for this node)."""
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        phase = (obj.get("status") or {}).get("phase")
        if (self.kubelet.knows(ns, name) or meta.get("deletionTimestamp") or phase in ("Succeeded", "Failed")
                or spec.get("nodeName", NODE_NAME) != NODE_NAME):
            return
        containers = spec.get("containers") or [{"name": name}]
        first = containers[0]
        image = first.get("image", "")
        labels = dict(meta.get("labels") or {})
        chart = labels.get(LABEL_SERVICE) or self._chart_of(image)
        service = chart in self.charts
        ports = [int(p["containerPort"]) for p in first.get("ports") or [] if p.get("containerPort")] if service else []
        if service:
            labels.setdefault(LABEL_SERVICE, chart)
        metrics = labels.get(LABEL_METRICS) or (self.charts.get(chart) if service else None)
        ip, servers = self.kubelet._alloc_ip_and_bind(ports)
        pod = PodInfo(namespace=ns, name=name, ip=ip, labels=labels,
                      env={e.get("name"): e.get("value", "") for e in first.get("env") or [] if e.get("name")},
                      ports=ports, metrics_port=int(metrics) if str(metrics or "").isdigit() else None,
                      version=(running_version(image, labels.get(LABEL_VERSION, "")) or image.rpartition(":")[2]),
                      owner=None, revision="", after_bootstrap=True, uid=meta.get("uid", ""),
                      spec={**spec, "nodeName": NODE_NAME}, servers=servers, probe=service)
        pod.status = _pending_status(ip, first, containers, name)
        pod.status["qosClass"] = (obj.get("status") or {}).get("qosClass") or pod.status["qosClass"]
        self.kubelet.track(pod)
        try:
            self.store.patch("pods", ns, name, {"spec": {"nodeName": NODE_NAME}}, "merge")
        except Exception:               # deleted meanwhile
            self.kubelet.forget(ns, name, pod.uid)
            return
        self.kubelet.write_status(pod)
        self.kubelet.event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {NODE_NAME}",
                           component="default-scheduler")
        log.info("pod %s/%s adopted (ip %s, %s)", ns, name, ip, f"runs {chart}" if service else "generic container")
        delay = random.uniform(*self.start_delay)
        if service:
            self.loop.after(delay, self.kubelet._start_pod, pod.key, pod)
        else:
            self.loop.after(delay, self._start_generic, pod, first.get("command") or first.get("args") or [])

    def _chart_of(self, image: str) -> str:
        repository = image.rsplit("@", 1)[0]
        if ":" in repository.rsplit("/", 1)[-1]:
            repository = repository.rsplit(":", 1)[0]
        return repository.rsplit("/", 1)[-1]

    def _start_generic(self, adopted: PodInfo, argv: list[str]) -> None:
        pod = self._live(adopted)
        if pod is None:
            return
        pod.started_at = time.monotonic()
        now = now_rfc3339()
        container = pod.status["containerStatuses"][0]
        container.update(state={"running": {"startedAt": now}}, started=True, ready=True)
        pod.status["phase"] = "Running"
        _set_ready(pod, True, now)
        pod.ready = True
        self.kubelet.write_status(pod)
        image = pod.spec.get("containers", [{}])[0].get("image", "")
        self.kubelet.event(pod, "Pulled", f'Container image "{image}" already present on machine')
        self.kubelet.event(pod, "Started", f"Started container {container['name']}")
        if not argv:
            return                                      # the image's own entrypoint: a server, it stays up
        obj = self.store.get_or_none("pods", pod.namespace, pod.name)
        if obj is None:
            return
        code, out, err, seconds = container_of(self.store, obj, container["name"], pod.ip).run(list(argv))
        for line in (out + err).decode("utf-8", "replace").splitlines():
            self.kubelet.log(pod, line, stamped=False)
        if seconds != float("inf"):
            self.loop.after(max(seconds, COMMAND_SECONDS), self._exited, pod, 0 if code == 126 else code)

    def _exited(self, adopted: PodInfo, code: int) -> None:
        """The generic container's command ended with `code` (126, not simulated, counts as 0)."""
        pod = self._live(adopted)
        if pod is None:
            return
        now = now_rfc3339()
        container = pod.status["containerStatuses"][0]
        started = (container.get("state") or {}).get("running", {}).get("startedAt", now)
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": started, "finishedAt": now, "containerID": ""}
        policy = pod.spec.get("restartPolicy", "Always")
        pod.ready = False
        _set_ready(pod, False, now, reason="PodCompleted")
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            container.update(state={"terminated": terminated}, ready=False, started=False)
            pod.status["phase"] = "Succeeded" if code == 0 else "Failed"
            pod.started_at = None                       # nothing runs any more: no probes
        else:
            container.update(state={"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off 10s "
                                                f"restarting failed container={container['name']}"}},
                             lastState={"terminated": terminated}, ready=False, started=False,
                             restartCount=container.get("restartCount", 0) + 1)
            self.kubelet.event(pod, "BackOff", "Back-off restarting failed container")
        self.kubelet.write_status(pod)
        log.info("pod %s/%s container exited %d (%s)", pod.namespace, pod.name, code, pod.status["phase"])

    def _live(self, adopted: PodInfo) -> Optional[PodInfo]:
        """The pod, while it is still the one adopted (not deleted, nor replaced by a pod of the same name)."""
        pod = self.kubelet.pod(*adopted.key)
        return None if pod is not adopted or pod.deleted or self.loop.stopped.is_set() else pod


def _set_ready(pod: PodInfo, ready: bool, now: str, reason: str = "ContainersNotReady") -> None:
    for cond in pod.status["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond.update(status="True" if ready else "False", lastTransitionTime=now)
            if ready:
                cond.pop("reason", None)
                cond.pop("message", None)
            else:
                cond["reason"] = reason
