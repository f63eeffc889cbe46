"""The ReplicaSet controller (and the ReplicationController one, the same loop): as many pods of the
template as `spec.replicas`, owned by the set; extra pods go not-Ready and newest first; status
follows the pods."""
from __future__ import annotations

import logging
from typing import Callable, Optional

from . import events
from .pods import PodInfo
from .workload import PodController, omit_zero, replicas_of, write_status

log = logging.getLogger("c7n_upgrade.sandbox.runtime")

RESOURCES = {"ReplicaSet": "replicasets.apps", "ReplicationController": "replicationcontrollers"}


def deletion_order(pod: PodInfo) -> tuple:
    """Which pods a set removes first: not started, not Ready, then the newest (ActivePodsWithRanks)."""
    return (pod.started_at is not None, pod.ready, -pod.created_at)


class ReplicaSets(PodController):
    """previous_version(rs) is the version the set's Deployment ran before (for wrong-version)."""

    def __init__(self, store, kubelet, *, spawn: Callable[..., PodInfo],
                 previous_version: Callable[[dict], Optional[str]] = lambda rs: None, kind: str = "ReplicaSet"):
        super().__init__(store, kubelet, spawn=spawn)
        self.previous_version = previous_version
        self.kind, self.resource = kind, RESOURCES[kind]
        self.component = "replicaset-controller" if kind == "ReplicaSet" else "replication-controller"

    def sync(self, rs: dict, spec: dict, pods: list) -> None:
        want = replicas_of(rs)
        template = spec.get("template") or {}
        for _ in range(want - len(pods)):
            pod = self.spawn(rs, template, previous_version=self.previous_version(rs))
            events.record(self.store, events.involved(rs), "SuccessfulCreate", f"Created pod: {pod.name}",
                          component=self.component)
        if len(pods) > want:
            for pod in sorted(pods, key=deletion_order)[: len(pods) - want]:
                self.kubelet.delete_pod(pod, "scaled down")
                events.record(self.store, events.involved(rs), "SuccessfulDelete", f"Deleted pod: {pod.name}",
                              component=self.component)
        self.write_status(rs)

    def write_status(self, rs: dict) -> None:
        meta = rs["metadata"]
        pods = self.pods(meta.get("namespace", ""), meta["name"])
        ready = sum(1 for p in pods if p.ready)
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": meta.get("generation", 1)}
        write_status(self.store, self.resource, rs, omit_zero(status, keep=("replicas",)))
