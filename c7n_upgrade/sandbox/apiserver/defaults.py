"""Defaults the API server sets on write, for the kinds whose clients read them back: Secrets' type,
the workload specs (strategy, history limit, replicas) that `kubectl rollout` and helm check, and
pods (their spec's defaults, and Pending with a QoS class on create)."""
from __future__ import annotations

ROLLING = {"type": "RollingUpdate"}
WORKLOAD_DEFAULTS = {
    "deployments.apps": {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                         "strategy": dict(ROLLING, rollingUpdate={"maxSurge": "25%", "maxUnavailable": "25%"})},
    "replicasets.apps": {"replicas": 1},
    "replicationcontrollers": {"replicas": 1},
    "statefulsets.apps": {"replicas": 1, "revisionHistoryLimit": 10, "podManagementPolicy": "OrderedReady",
                          "updateStrategy": dict(ROLLING, rollingUpdate={"partition": 0})},
    "daemonsets.apps": {"revisionHistoryLimit": 10,
                        "updateStrategy": dict(ROLLING, rollingUpdate={"maxUnavailable": 1})},
}


def apply_defaults(resource: str, obj: dict) -> None:
    """Fill in what the API server defaults for `resource`, in place."""
    if resource == "secrets":
        obj["type"] = obj.get("type") or "Opaque"
        return
    defaults = WORKLOAD_DEFAULTS.get(resource)
    if defaults is None:
        return
    spec = obj.setdefault("spec", {})
    for key, value in defaults.items():
        if spec.get(key) is None:
            spec[key] = dict(value) if isinstance(value, dict) else value
        elif key in ("strategy", "updateStrategy") and spec[key].get("type", "RollingUpdate") == "RollingUpdate":
            spec[key].setdefault("type", "RollingUpdate")
            spec[key].setdefault("rollingUpdate", dict(value["rollingUpdate"]))
    if resource == "replicationcontrollers":   # selector and labels from the template's labels
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        spec.setdefault("selector", dict(labels))
        obj.setdefault("metadata", {}).setdefault("labels", dict(labels))


def default_pod(pod: dict, created: bool) -> None:
    """What the real server fills in on a pod: its defaults and, on create, status Pending with the QoS class."""
    spec = pod.setdefault("spec", {})
    for key, value in (("restartPolicy", "Always"), ("dnsPolicy", "ClusterFirst"), ("schedulerName", "default-scheduler"),
                       ("serviceAccountName", "default"), ("terminationGracePeriodSeconds", 30),
                       ("securityContext", {}), ("enableServiceLinks", True), ("priority", 0)):
        spec.setdefault(key, value)
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    containers = spec.get("containers") or []
    for c in containers:
        image = c.get("image", "")
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
    if created and not pod.get("status"):      # (a status sent along is kept: the runtime writes its own)
        pod["status"] = {"phase": "Pending", "qosClass": _qos_class(containers)}


def _qos_class(containers: list) -> str:
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all((r.get("limits") or {}).get(k) and (r.get("requests") or r.get("limits") or {}).get(k)
                     == r["limits"][k] for r in resources for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"
