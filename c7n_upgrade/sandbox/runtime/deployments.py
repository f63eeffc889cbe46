"""The Deployment controller: pods named ``<deploy>-<hash>-<rand5>`` (ReplicaSet style, without
ReplicaSet objects); a rolling update creates the new pods first and deletes old ones as new ones
become Ready; the Deployment's status follows.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Callable, Optional

from ..faults import Fault
from .pods import LABEL_RELEASE, LABEL_SERVICE, LABEL_VERSION, Kubelet, PodInfo, now_rfc3339

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


def template_hash(template: dict) -> str:
    """A stable 10-character hash of a pod template (like pod-template-hash)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # the apimachinery "safe" alphabet
    n = int(digest[:16], 16)
    out = []
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


class Deployments:
    """Reconciles each Deployment's pods with its template and replica count.

    new_pod_fault(release, chart): the fault that applies to a pod created now (None before the
    bootstrap ends); the pod is marked after_bootstrap when `bootstrapped()`.
    """

    def __init__(self, store, kubelet: Kubelet, *, new_pod_fault: Callable[[str, str], Optional[Fault]],
                 bootstrapped: Callable[[], bool]):
        self.store, self.kubelet = store, kubelet
        self.new_pod_fault, self.bootstrapped = new_pod_fault, bootstrapped
        self._lock = threading.Lock()
        self._state: dict[tuple, dict] = {}            # key -> {hash, version, prev_version}
        self._status_written: dict[tuple, dict] = {}

    def reconcile(self, ns: str, name: str) -> None:
        dep = self.store.get_or_none("deployments.apps", ns, name)
        if dep is None:
            return
        spec = dep.get("spec") or {}
        template = spec.get("template") or {}
        h = template_hash(template)
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        version = ((template.get("metadata") or {}).get("labels") or {}).get(LABEL_VERSION, "")
        key = (ns, name)
        with self._lock:
            state = self._state.get(key)
            if state is None:
                state = {"hash": h, "version": version, "prev_version": None}
                self._state[key] = state
            elif state["hash"] != h:
                if state["version"] != version:
                    state["prev_version"] = state["version"]
                state.update(hash=h, version=version)
                log.info("deployment %s/%s: pod template changed (version %s), rolling", ns, name, version)
        pods = self.kubelet.live_pods(key)
        new = [p for p in pods if p.template_hash == h]
        old = [p for p in pods if p.template_hash != h]
        for _ in range(replicas - len(new)):
            new.append(self._create_pod(dep, h, state))
        if len(new) > replicas:
            extra = sorted(new, key=lambda p: (p.ready, p.created_at))[: len(new) - replicas]
            for p in extra:
                self.kubelet.delete_pod(p, "scaled down")
            new = [p for p in new if p not in extra]
        new_ready = sum(1 for p in new if p.ready)
        keep_old = max(0, replicas - new_ready)
        if len(old) > keep_old:
            doomed = sorted(old, key=lambda p: (p.ready, p.created_at))[: len(old) - keep_old]
            for p in doomed:
                self.kubelet.delete_pod(p, "rolling update")
            old = [p for p in old if p not in doomed]
        self._write_status(dep, new + old, new)

    def _create_pod(self, dep: dict, h: str, state: dict) -> PodInfo:
        labels = (dep["spec"].get("template") or {}).get("metadata", {}).get("labels") or {}
        bootstrapped = self.bootstrapped()
        release = labels.get(LABEL_RELEASE, dep["metadata"]["name"])
        fault = self.new_pod_fault(release, labels.get(LABEL_SERVICE, "")) if bootstrapped else None
        return self.kubelet.create_pod(dep, h, previous_version=state.get("prev_version"), fault=fault,
                                       after_bootstrap=bootstrapped)

    def deleted(self, key: tuple) -> None:
        with self._lock:
            self._state.pop(key, None)
            self._status_written.pop(key, None)
        for p in self.kubelet.live_pods(key):
            self.kubelet.delete_pod(p, "deployment deleted")

    def all_ready(self, namespace: str) -> bool:
        """Every Deployment in the namespace has all its replicas Ready and no pod left over."""
        for dep in self.store.list("deployments.apps", namespace):
            key = (namespace, dep["metadata"]["name"])
            h = template_hash(dep["spec"]["template"])
            pods = self.kubelet.live_pods(key)
            want = int(dep["spec"].get("replicas", 1) or 0)
            if len(pods) != want or not all(p.ready and p.template_hash == h for p in pods):
                return False
        return True

    def _write_status(self, dep: dict, pods: list[PodInfo], new: list[PodInfo]) -> None:
        meta = dep["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        replicas = int(dep["spec"].get("replicas", 1) or 0)
        ready = sum(1 for p in pods if p.ready)
        new_ready = sum(1 for p in new if p.ready)
        available = ready >= replicas
        done = new_ready >= replicas and len(pods) == len(new)
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(new),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, len(pods) - ready),
        }
        sig = dict(status, available=available, done=done)
        with self._lock:
            if self._status_written.get(key) == sig:
                return
            self._status_written[key] = sig
        now = now_rfc3339()
        rs = f"{meta['name']}-{template_hash(dep['spec']['template'])}"
        status["conditions"] = [
            {"type": "Available", "status": "True" if available else "False",
             "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if available
             else "Deployment does not have minimum availability.",
             "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": "True",
             "reason": "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
             "message": f'ReplicaSet "{rs}" has successfully progressed.' if done
             else f'ReplicaSet "{rs}" is progressing.',
             "lastUpdateTime": now, "lastTransitionTime": now},
        ]
        try:
            self.store.update_status("deployments.apps", key[0], key[1], status)
        except Exception:
            with self._lock:
                self._status_written.pop(key, None)
