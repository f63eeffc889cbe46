"""What the workload controllers share: owner references, pod templates compared and hashed the way
the API server's typed objects compare them, and the status they write."""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Optional

from .events import now_rfc3339

HASH_LABEL = "pod-template-hash"          # Deployments -> ReplicaSets
REVISION_LABEL = "controller-revision-hash"  # StatefulSets and DaemonSets
API_VERSIONS = {"ReplicaSet": "apps/v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
                "DaemonSet": "apps/v1", "ReplicationController": "v1", "Job": "batch/v1"}


def owner_reference(obj: dict) -> dict:
    """The controller ownerReference an owned object carries."""
    meta = obj["metadata"]
    return {"apiVersion": API_VERSIONS.get(obj["kind"], obj.get("apiVersion", "v1")), "kind": obj["kind"],
            "name": meta["name"], "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: dict) -> Optional[dict]:
    """The ownerReference with controller: true, if any."""
    return next((r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), None)


def controlled_by(obj: dict, owner: dict) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def semantic(value):
    """A value as a typed Kubernetes object compares: empty maps, lists and nulls equal absent fields."""
    if isinstance(value, dict):
        kept = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def _without_label(template: dict, label: str) -> dict:
    template = copy.deepcopy(template or {})
    ((template.get("metadata") or {}).get("labels") or {}).pop(label, None)
    return template


def same_template(a: dict, b: dict, label: str = HASH_LABEL) -> bool:
    """Equal pod templates, ignoring the controller's hash label (EqualIgnoreHash)."""
    return semantic(_without_label(a, label)) == semantic(_without_label(b, label))


def template_hash(template: dict, label: str = HASH_LABEL) -> str:
    """A stable 10-character hash of a pod template (like pod-template-hash), from its semantic form."""
    text = json.dumps(semantic(_without_label(template, label)), sort_keys=True)
    n = int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # the apimachinery "safe" alphabet
    out = []
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def replicas_of(obj: dict, default: int = 1) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return default if value is None else int(value)


def omit_zero(status: dict, keep: tuple = ()) -> dict:
    """A status as Go's JSON writes it: zero counters of omitempty fields are left out."""
    return {k: v for k, v in status.items() if k in keep or v not in (0, None, "")}


def condition(current: list, type_: str, status: str, reason: str, message: str) -> dict:
    """A status condition; its times stay as they were while its status and reason do not change."""
    old = next((c for c in current or [] if c.get("type") == type_), None)
    now = now_rfc3339()
    if old and old.get("status") == status and old.get("reason") == reason:
        return dict(old, message=message)
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def write_status(store, resource: str, obj: dict, status: dict) -> None:
    """update_status when the status differs from the stored one (condition times aside)."""
    def comparable(s):
        s = dict(s or {})
        s["conditions"] = [{k: v for k, v in c.items() if not k.startswith("last")} for c in s.get("conditions") or []]
        return s
    if comparable(status) == comparable(obj.get("status")):
        return
    meta = obj["metadata"]
    try:
        store.update_status(resource, meta.get("namespace"), meta["name"], status)
    except Exception:
        pass  # deleted meanwhile; its next event reconciles again


class PodController:
    """A controller whose objects own pods directly (ReplicaSet, ReplicationController, StatefulSet,
    DaemonSet). spawn(owner, template, **how) creates one pod (the runtime applies faults)."""
    kind = resource = component = ""

    def __init__(self, store, kubelet, *, spawn):
        self.store, self.kubelet, self.spawn = store, kubelet, spawn

    def reconcile(self, ns: str, name: str) -> None:
        """Sync the object's pods and status; when it is gone its pods go too (the garbage collector)."""
        obj = self.store.get_or_none(self.resource, ns, name)
        if obj is None:
            self.deleted(ns, name)
        else:
            self.sync(obj, obj.get("spec") or {}, self.pods(ns, name))

    def sync(self, obj: dict, spec: dict, pods: list) -> None:
        raise NotImplementedError

    def pods(self, ns: str, name: str) -> list:
        return self.kubelet.live_pods((self.kind, ns, name))

    def deleted(self, ns: str, name: str) -> None:
        for pod in self.pods(ns, name):
            self.kubelet.delete_pod(pod, f"{self.kind.lower()} deleted")
