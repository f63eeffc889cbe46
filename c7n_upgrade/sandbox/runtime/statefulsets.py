"""The StatefulSet controller: pods ``<name>-0 … <name>-(N-1)`` with stable names, created in order
(each once the one before is Ready, unless podManagementPolicy is Parallel) and removed from the
highest ordinal; a rolling update replaces them one at a time from the highest ordinal down to the
partition, each labelled with its ``controller-revision-hash``."""
from __future__ import annotations

from . import events
from .pods import PodInfo
from .workload import REVISION_LABEL, PodController, omit_zero, replicas_of, template_hash, write_status


def ordinal(pod: PodInfo) -> int:
    try:
        return int(pod.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


class StatefulSets(PodController):
    kind, resource, component = "StatefulSet", "statefulsets.apps", "statefulset-controller"

    def sync(self, sts: dict, spec: dict, live: list) -> None:
        replicas = replicas_of(sts)
        update = f"{sts['metadata']['name']}-{template_hash(spec.get('template') or {}, REVISION_LABEL)}"
        parallel = spec.get("podManagementPolicy") == "Parallel"
        pods = {ordinal(p): p for p in live}
        for i in range(replicas):           # missing pods, lowest ordinal first
            if i in pods:
                continue
            if not parallel and not all(pods[j].ready for j in range(i) if j in pods):
                break
            pods[i] = self._create(sts, i, update)
            if not parallel:
                break
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        all_ready = all(i in pods and pods[i].ready for i in range(replicas))
        if extra and (parallel or all_ready):
            for i in (extra if parallel else extra[:1]):
                self._delete(sts, pods.pop(i))
        elif not extra and all_ready and (spec.get("updateStrategy") or {}).get("type") != "OnDelete":
            partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0)
            stale = [i for i in pods if i >= partition and pods[i].revision != update]
            if stale:
                self._delete(sts, pods.pop(max(stale)))
        self._write_status(sts, list(pods.values()), update)

    def _create(self, sts: dict, i: int, revision: str) -> PodInfo:
        name = f"{sts['metadata']['name']}-{i}"
        spec_fields = {"hostname": name}
        if (sts.get("spec") or {}).get("serviceName"):
            spec_fields["subdomain"] = sts["spec"]["serviceName"]
        pod = self.spawn(sts, sts["spec"].get("template") or {}, name=name, spec_fields=spec_fields,
                         extra_labels={REVISION_LABEL: revision, "statefulset.kubernetes.io/pod-name": name})
        events.record(self.store, events.involved(sts), "SuccessfulCreate",
                      f"create Pod {name} in StatefulSet {sts['metadata']['name']} successful",
                      component=self.component)
        return pod

    def _delete(self, sts: dict, pod: PodInfo) -> None:
        self.kubelet.delete_pod(pod, "statefulset update")
        events.record(self.store, events.involved(sts), "SuccessfulDelete",
                      f"delete Pod {pod.name} in StatefulSet {sts['metadata']['name']} successful",
                      component=self.component)

    def _write_status(self, sts: dict, pods: list, update: str) -> None:
        previous = sts.get("status") or {}
        ready = sum(1 for p in pods if p.ready)
        updated = sum(1 for p in pods if p.revision == update)
        done = updated == replicas_of(sts) == len(pods) == ready
        current = update if done or not previous.get("currentRevision") else previous["currentRevision"]
        status = omit_zero({
            "observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
            "readyReplicas": ready, "currentReplicas": sum(1 for p in pods if p.revision == current),
            "updatedReplicas": updated, "currentRevision": current, "updateRevision": update,
            "collisionCount": 0, "availableReplicas": ready}, keep=("replicas", "collisionCount"))
        write_status(self.store, self.resource, sts, status)
