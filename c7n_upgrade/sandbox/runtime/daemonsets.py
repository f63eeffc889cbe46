"""The DaemonSet controller: one pod on the sandbox's one node; a rolling update replaces it (the old
pod goes first, as maxUnavailable 1 allows), OnDelete waits until someone deletes it."""
from __future__ import annotations

from . import events
from .workload import REVISION_LABEL, PodController, omit_zero, template_hash, write_status

NODES = 1


class DaemonSets(PodController):
    kind, resource, component = "DaemonSet", "daemonsets.apps", "daemonset-controller"

    def sync(self, ds: dict, spec: dict, pods: list) -> None:
        revision = template_hash(spec.get("template") or {}, REVISION_LABEL)
        stale = [p for p in pods if p.revision != revision]
        if stale and (spec.get("updateStrategy") or {}).get("type") != "OnDelete":
            for pod in stale:
                self.kubelet.delete_pod(pod, "daemonset update")
                events.record(self.store, events.involved(ds), "SuccessfulDelete", f"Deleted pod: {pod.name}",
                              component=self.component)
            pods = [p for p in pods if p not in stale]
        elif not pods:
            pod = self.spawn(ds, spec.get("template") or {}, extra_labels={
                REVISION_LABEL: revision, "pod-template-generation": str(ds["metadata"].get("generation", 1))})
            events.record(self.store, events.involved(ds), "SuccessfulCreate", f"Created pod: {pod.name}",
                          component=self.component)
            pods = [pod]
        ready = sum(1 for p in pods if p.ready)
        status = omit_zero({
            "currentNumberScheduled": len(pods), "numberMisscheduled": 0, "desiredNumberScheduled": NODES,
            "numberReady": ready, "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": sum(1 for p in pods if p.revision == revision), "numberAvailable": ready,
            "numberUnavailable": max(0, NODES - ready)},
            keep=("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"))
        write_status(self.store, self.resource, ds, status)
