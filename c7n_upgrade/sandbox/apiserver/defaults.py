"""Defaults the API server sets on write, for the kinds whose clients read them back: Secrets' type,
and the workload specs (strategy, history limit, replicas) that `kubectl rollout` and helm check."""
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
