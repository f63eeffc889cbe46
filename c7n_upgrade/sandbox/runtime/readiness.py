"""Readiness probing: each started pod's health decides its Ready condition, as the kubelet's probe does."""
from __future__ import annotations

import logging
from typing import Callable

from .pods import Kubelet, PodInfo, now_rfc3339

log = logging.getLogger("c7n_upgrade.sandbox.runtime")  # bench/common.py reads the "Ready" lines


def _failing(body: dict) -> list[str]:
    return sorted(k for k, v in body.items() if isinstance(v, dict) and v.get("status") != "UP")


def probe_pods(kubelet: Kubelet, health: Callable[[PodInfo], tuple[int, dict]]) -> set[tuple]:
    """Probe every started pod once; write Ready changes. Returns the owners (kind, namespace, name)
    whose pods changed."""
    pods = [p for p in kubelet.live_pods() if p.started_at is not None]
    changed = set()
    for pod in pods:
        code, body = health(pod)
        pod.last_health = body
        ready = code == 200
        if ready == pod.ready:
            continue
        pod.ready = ready
        _set_ready_conditions(pod, ready)
        kubelet.write_status(pod)
        if ready:
            kubelet.log(pod, f"INFO  health UP on port {pod.metrics_port}; pod Ready" if pod.metrics_port
                        else "INFO  pod Ready")
            log.info("pod %s/%s Ready", pod.namespace, pod.name)
        else:
            failing = _failing(body)
            kubelet.log(pod, f"WARN  health DOWN ({', '.join(failing) or 'status'}); pod not Ready")
            kubelet.event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
            log.info("pod %s/%s not Ready (%s)", pod.namespace, pod.name, ", ".join(failing))
        changed.add(pod.owner)
    # first DOWN answer of a fresh pod: report it once, as the kubelet would
    for pod in pods:
        if not pod.ready and not pod.unhealthy_reported and pod.last_health is not None:
            pod.unhealthy_reported = True
            kubelet.log(pod, f"WARN  health DOWN ({', '.join(_failing(pod.last_health)) or 'status'})")
            kubelet.event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
        elif pod.ready:
            pod.unhealthy_reported = True
    return changed


def _set_ready_conditions(pod: PodInfo, ready: bool) -> None:
    now = now_rfc3339()
    for cond in pod.status["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "True" if ready else "False"
            cond["lastTransitionTime"] = now
            if ready:
                cond.pop("reason", None)
                cond.pop("message", None)
            else:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{pod.status['containerStatuses'][0]['name']}]"
    pod.status["containerStatuses"][0]["ready"] = ready
