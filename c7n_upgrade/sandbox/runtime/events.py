"""Events as the kubelet and the controllers record them: `involvedObject` names the object by kind,
name, namespace and uid (`kubectl describe` selects its events by that uid)."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Optional

WARNING_REASONS = {"Unhealthy", "Failed", "BackOff", "FailedCreate", "FailedDelete", "FailedScheduling",
                   "BackoffLimitExceeded"}
NODE = "sandbox-node"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def involved(obj: dict, field_path: Optional[str] = None) -> dict:
    """The involvedObject reference of a stored object."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
           "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", "v1"),
           "resourceVersion": meta.get("resourceVersion", "")}
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def record(store, ref: dict, reason: str, message: str, *, component: str, host: Optional[str] = None) -> None:
    """Create one Event about `ref` (an involvedObject); a failure to record is not an error."""
    now = now_rfc3339()
    source = {"component": component}
    if host:
        source["host"] = host
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{ref['name']}.{os.urandom(8).hex()}", "namespace": ref["namespace"]},
        "involvedObject": ref, "reason": reason, "message": message,
        "type": "Warning" if reason in WARNING_REASONS else "Normal",
        "source": source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "reportingComponent": component, "reportingInstance": host or "",
    }
    try:
        store.create("events", event, ref["namespace"])
    except Exception:
        pass
