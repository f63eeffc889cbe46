"""The Endpoints controller: for every Service with a selector, an Endpoints object of the same name
listing its pods from the store: Ready pods under `addresses`, the others (with an IP, not finished)
under `notReadyAddresses`, ports resolved per pod (named targetPorts from the pod's container
ports). Written only when it changes; pod changes are gathered per namespace for a moment."""
from __future__ import annotations

import logging
import threading

from .containers import NODE_NAME
from .loop import ControlLoop

log = logging.getLogger("c7n_upgrade.sandbox.runtime")

GATHER_SECONDS = 0.05


class Endpoints:
    def __init__(self, store, loop: ControlLoop):
        self.store, self.loop = store, loop
        self._dirty: set[str] = set()
        self._lock = threading.Lock()

    def on_event(self, event_type: str, resource: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "")
        if resource == "services":
            if event_type == "DELETED":
                self._delete(ns, meta.get("name", ""))
            else:
                self.sync(obj)
        elif resource == "pods":
            with self._lock:
                first = not self._dirty
                self._dirty.add(ns)
            if first:
                self.loop.after(GATHER_SECONDS, self._flush)

    def _flush(self) -> None:
        with self._lock:
            namespaces, self._dirty = self._dirty, set()
        for ns in namespaces:
            for svc in self.store.list("services", ns):
                self.sync(svc)

    def sync(self, svc: dict) -> None:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta.get("namespace", ""), meta["name"]
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            return                                  # endpoints of such a Service are the user's own
        pods = self.store.list("pods", ns, label_selector=spec["selector"])
        wanted = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
        if meta.get("labels"):
            wanted["metadata"]["labels"] = dict(meta["labels"])
        subsets = _subsets(pods, spec.get("ports") or [], spec.get("publishNotReadyAddresses", False))
        if subsets:
            wanted["subsets"] = subsets
        current = self.store.get_or_none("endpoints", ns, name)
        try:
            if current is None:
                self.store.create("endpoints", wanted, ns)
            elif (current.get("subsets"), current["metadata"].get("labels")) != \
                    (wanted.get("subsets"), wanted["metadata"].get("labels")):
                wanted["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                self.store.replace("endpoints", wanted, ns)
        except Exception:       # the Service or namespace went away meanwhile, or a writer raced us
            log.debug("endpoints %s/%s not written", ns, name, exc_info=True)

    def _delete(self, ns: str, name: str) -> None:
        try:
            self.store.delete("endpoints", ns, name)
        except Exception:
            pass


def _subsets(pods: list[dict], ports: list[dict], publish_not_ready: bool) -> list[dict]:
    """Addresses grouped by the ports they resolve to, as the controller packs them."""
    groups: dict[tuple, dict] = {}
    for pod in pods:
        status, meta = pod.get("status") or {}, pod["metadata"]
        if not status.get("podIP") or meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        resolved = tuple(p for p in (_port(pod, sp) for sp in ports) if p is not None)
        if ports and not resolved:
            continue
        address = {"ip": status["podIP"], "nodeName": (pod.get("spec") or {}).get("nodeName") or NODE_NAME,
                   "targetRef": {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"],
                                 "uid": meta.get("uid", "")}}
        ready = publish_not_ready or any(c.get("type") == "Ready" and c.get("status") == "True"
                                         for c in status.get("conditions") or [])
        group = groups.setdefault(resolved, {"addresses": [], "notReadyAddresses": []})
        group["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for resolved, group in groups.items():
        subset = {k: sorted(v, key=lambda a: a["ip"]) for k, v in group.items() if v}
        subset["ports"] = [dict(p) for p in resolved]
        subsets.append(subset)
    return subsets


def _port(pod: dict, service_port: dict):
    """The EndpointPort for one Service port on one pod (None: the pod has no such named port)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, str) and not target.isdigit():
        named = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []
                 if p.get("name") == target]
        if not named:
            return None
        target = named[0]["containerPort"]
    port = {"port": int(target), "protocol": service_port.get("protocol", "TCP")}
    if service_port.get("name"):
        port = {"name": service_port["name"], **port}
    return tuple(sorted(port.items()))
