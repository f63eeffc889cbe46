"""The scale subresource (`kubectl scale`, `…/deployments/NAME/scale`): an autoscaling/v1 Scale view of
a workload's `spec.replicas`. GET reads it; PUT (with an optional resourceVersion precondition) and
PATCH (merge, strategic or JSON patch of the Scale) set the replicas."""
from __future__ import annotations

from .errors import HttpError
from .patches import PATCH_FUNCTIONS
from .tables import selector_string


def scale_of(obj: dict) -> dict:
    meta = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = spec.get("replicas")
    selector = selector_string(spec.get("selector"))
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": 1 if replicas is None else replicas},
            "status": {"replicas": status.get("replicas", 0), "selector": "" if selector == "<none>" else selector}}


def scale(store, rtype, namespace, name, method, body, patch_kind=None, dry_run=False) -> dict:
    """The Scale after the request; body is the decoded request body (a Scale, or a patch)."""
    key = rtype.key
    current = store.get(key, namespace, name)
    if method == "GET":
        return scale_of(current)
    if method == "PUT":
        wanted = body if isinstance(body, dict) else {}
    elif method == "PATCH":
        wanted = PATCH_FUNCTIONS[patch_kind](scale_of(current), body)
    else:
        raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    replicas = (wanted.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise HttpError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                        f"{replicas!r}: must be greater than or equal to 0")
    patch = {"spec": {"replicas": replicas}}
    precondition = (wanted.get("metadata") or {}).get("resourceVersion") if method == "PUT" else None
    if precondition:
        patch["metadata"] = {"resourceVersion": precondition}
    return scale_of(store.patch(key, namespace, name, patch, "merge", dry_run=dry_run))
