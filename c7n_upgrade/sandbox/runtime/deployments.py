"""The Deployment controller: a Deployment owns ReplicaSets, one per pod template (named
``<deployment>-<pod-template-hash>``, numbered by ``deployment.kubernetes.io/revision``). A rolling
update scales the new ReplicaSet up and the old ones down within maxSurge/maxUnavailable as pods
become available; Recreate scales the old ones to zero first. Its status sums its ReplicaSets'.
Old ReplicaSets stay at zero replicas (up to revisionHistoryLimit) for `kubectl rollout undo`.
"""
from __future__ import annotations

import copy
import logging
import math
from typing import Optional

from . import events
from .pods import LABEL_VERSION
from .workload import (HASH_LABEL, condition, controlled_by, controller_of, omit_zero, owner_reference,
                       replicas_of, same_template, template_hash, write_status)

log = logging.getLogger("c7n_upgrade.sandbox.runtime")

RS = "replicasets.apps"
REVISION = "deployment.kubernetes.io/revision"
# annotations the controller keeps to itself (not copied from the Deployment to its ReplicaSets)
OWN_ANNOTATIONS = (REVISION, "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
                   "deployment.kubernetes.io/max-replicas", "kubectl.kubernetes.io/last-applied-configuration")


def revision(rs: dict) -> int:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _scaled(value, replicas: int, round_up: bool) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def surge_and_unavailable(dep: dict) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down) of a rolling update; both 0 means 1 unavailable."""
    rolling = ((dep.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    replicas = replicas_of(dep)
    surge = _scaled(rolling.get("maxSurge"), replicas, True)
    unavailable = _scaled(rolling.get("maxUnavailable"), replicas, False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def _status(rs: dict, key: str) -> int:
    return int((rs.get("status") or {}).get(key) or 0)


def previous_version(store, rs: dict) -> Optional[str]:
    """The chart version the ReplicaSet's Deployment ran before this revision (wrong-version's label)."""
    ref = controller_of(rs)
    if ref is None or ref.get("kind") != "Deployment":
        return None
    mine = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels", {}).get(LABEL_VERSION)
    siblings = [o for o in store.list(RS, rs["metadata"].get("namespace"))
                if (controller_of(o) or {}).get("uid") == ref.get("uid") and revision(o) < revision(rs)]
    for older in sorted(siblings, key=revision, reverse=True):
        version = ((older["spec"].get("template") or {}).get("metadata") or {}).get("labels", {}).get(LABEL_VERSION)
        if version and version != mine:
            return version
    return None


class Deployments:
    def __init__(self, store):
        self.store = store

    def reconcile(self, ns: str, name: str) -> None:
        dep = self.store.get_or_none("deployments.apps", ns, name)
        if dep is None:
            return
        owned = [rs for rs in self.store.list(RS, ns) if controlled_by(rs, dep)]
        template = (dep.get("spec") or {}).get("template") or {}
        new = next((rs for rs in sorted(owned, key=revision, reverse=True)
                    if same_template(rs["spec"].get("template"), template)), None)
        old = [rs for rs in owned if rs is not new]
        if (dep.get("spec") or {}).get("paused"):     # a paused Deployment starts no new revision
            self._write_status(dep, new, old)
            return
        newest = max((revision(rs) for rs in old), default=0)
        if new is None:
            new = self._create_replicaset(dep, template, newest + 1, self._initial_replicas(dep, old))
        elif revision(new) <= newest:       # back to an older template (rollout undo): it becomes the newest
            self._annotate(new, {REVISION: str(newest + 1),
                                 "deployment.kubernetes.io/revision-history": str(revision(new))})
        if ((dep.get("metadata") or {}).get("annotations") or {}).get(REVISION) != str(revision(new)):
            self.store.patch("deployments.apps", ns, name, {"metadata": {"annotations": {REVISION: str(revision(new))}}},
                             "merge")
        if ((dep.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            self._recreate(dep, new, old)
        else:
            self._roll(dep, new, old)
        self._clean_up(dep, old)
        self._write_status(dep, new, old)

    # ------------------------------------------------------------------ ReplicaSets
    def _create_replicaset(self, dep: dict, template: dict, rev: int, replicas: int) -> dict:
        meta = dep["metadata"]
        h = template_hash(template)
        rs_template = copy.deepcopy(template)
        rs_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy((dep.get("spec") or {}).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        surge, _ = surge_and_unavailable(dep)
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in OWN_ANNOTATIONS}
        annotations.update({REVISION: str(rev), "deployment.kubernetes.io/desired-replicas": str(replicas_of(dep)),
                            "deployment.kubernetes.io/max-replicas": str(replicas_of(dep) + surge)})
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{meta['name']}-{h}", "namespace": meta.get("namespace"),
                           "labels": dict(rs_template["metadata"]["labels"]), "annotations": annotations,
                           "ownerReferences": [owner_reference(dep)]},
              "spec": {"replicas": replicas, "selector": selector, "template": rs_template}}
        if (dep.get("spec") or {}).get("minReadySeconds"):
            rs["spec"]["minReadySeconds"] = dep["spec"]["minReadySeconds"]
        created = self.store.create(RS, rs, meta.get("namespace"))
        log.info("deployment %s/%s: new ReplicaSet %s (revision %d)", meta.get("namespace"), meta["name"],
                 created["metadata"]["name"], rev)
        if replicas:
            self._event(dep, f"Scaled up replica set {created['metadata']['name']} to {replicas}")
        return created

    def _initial_replicas(self, dep: dict, old: list) -> int:
        if ((dep.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate" and any(
                replicas_of(rs, 0) or _status(rs, "replicas") for rs in old):
            return 0
        surge, _ = surge_and_unavailable(dep)
        room = replicas_of(dep) + surge - sum(replicas_of(rs, 0) for rs in old)
        return max(0, min(replicas_of(dep), room))

    def _annotate(self, rs: dict, annotations: dict) -> None:
        rs["metadata"].setdefault("annotations", {}).update(annotations)
        self.store.patch(RS, rs["metadata"]["namespace"], rs["metadata"]["name"],
                         {"metadata": {"annotations": annotations}}, "merge")

    def _scale(self, dep: dict, rs: dict, replicas: int) -> None:
        current = replicas_of(rs, 0)
        if replicas == current:
            return
        rs["spec"]["replicas"] = replicas
        self.store.patch(RS, rs["metadata"]["namespace"], rs["metadata"]["name"], {"spec": {"replicas": replicas}},
                         "merge")
        direction = "up" if replicas > current else "down"
        self._event(dep, f"Scaled {direction} replica set {rs['metadata']['name']} to {replicas}")

    def _event(self, dep: dict, message: str) -> None:
        events.record(self.store, events.involved(dep), "ScalingReplicaSet", message, component="deployment-controller")

    # ------------------------------------------------------------------ strategies
    def _roll(self, dep: dict, new: dict, old: list) -> None:
        """RollingUpdate: the new set grows within maxSurge, old sets shrink as pods are available."""
        replicas = replicas_of(dep)
        surge, unavailable = surge_and_unavailable(dep)
        total = replicas_of(new, 0) + sum(replicas_of(rs, 0) for rs in old)
        if replicas_of(new, 0) > replicas:
            self._scale(dep, new, replicas)
        elif total < replicas + surge:
            self._scale(dep, new, min(replicas, replicas_of(new, 0) + replicas + surge - total))
        min_available = replicas - unavailable
        all_pods = replicas_of(new, 0) + sum(replicas_of(rs, 0) for rs in old)
        budget = all_pods - min_available - (replicas_of(new, 0) - _status(new, "availableReplicas"))
        if budget <= 0 or not any(replicas_of(rs, 0) for rs in old):
            return
        by_age = sorted(old, key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        for rs in by_age:                    # unavailable old pods go first
            unhealthy = replicas_of(rs, 0) - _status(rs, "availableReplicas")
            if budget > 0 and unhealthy > 0:
                down = min(budget, unhealthy)
                self._scale(dep, rs, replicas_of(rs, 0) - down)
                budget -= down
        excess = sum(_status(rs, "availableReplicas") for rs in [new, *old]) - min_available
        for rs in by_age:                    # then as many available ones as the new set makes up for
            if excess <= 0:
                break
            down = min(replicas_of(rs, 0), excess)
            if down:
                self._scale(dep, rs, replicas_of(rs, 0) - down)
                excess -= down

    def _recreate(self, dep: dict, new: dict, old: list) -> None:
        """Recreate: every old pod goes before the new set grows."""
        for rs in old:
            self._scale(dep, rs, 0)
        if not any(_status(rs, "replicas") for rs in old):
            self._scale(dep, new, replicas_of(dep))

    def _clean_up(self, dep: dict, old: list) -> None:
        """Old ReplicaSets at zero beyond revisionHistoryLimit (default 10) are deleted, oldest first."""
        limit = (dep.get("spec") or {}).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        idle = sorted((rs for rs in old if not replicas_of(rs, 0) and not _status(rs, "replicas")), key=revision)
        for rs in idle[: max(0, len(idle) - limit)]:
            try:
                self.store.delete(RS, rs["metadata"]["namespace"], rs["metadata"]["name"])
            except Exception:
                pass

    # ------------------------------------------------------------------ status
    def _write_status(self, dep: dict, new: Optional[dict], old: list) -> None:
        fresh = [self.store.get_or_none(RS, rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs
                 for rs in ([new] if new else []) + old]
        new = fresh[0] if new else {"metadata": {"name": ""}}
        sets = fresh
        replicas = replicas_of(dep)
        available = sum(_status(rs, "availableReplicas") for rs in sets)
        _, unavailable = surge_and_unavailable(dep)
        has_minimum = available >= replicas - unavailable
        updated = _status(new, "replicas")
        complete = (updated == replicas and _status(new, "availableReplicas") >= replicas
                    and sum(_status(rs, "replicas") for rs in sets) == updated)
        current = (dep.get("status") or {}).get("conditions") or []
        name = new["metadata"]["name"]
        progressing = condition(current, "Progressing", "True", "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                                f'ReplicaSet "{name}" has successfully progressed.' if complete
                                else f'ReplicaSet "{name}" is progressing.')
        if (dep.get("spec") or {}).get("paused"):
            progressing = condition(current, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        status = omit_zero({
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": sum(_status(rs, "replicas") for rs in sets),
            "updatedReplicas": updated,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in sets),
            "availableReplicas": available,
            "unavailableReplicas": max(0, sum(replicas_of(rs, 0) for rs in sets) - available),
        })
        status["conditions"] = [
            condition(current, "Available", "True" if has_minimum else "False",
                      "MinimumReplicasAvailable" if has_minimum else "MinimumReplicasUnavailable",
                      "Deployment has minimum availability." if has_minimum
                      else "Deployment does not have minimum availability."),
            progressing,
        ]
        write_status(self.store, "deployments.apps", dep, status)

    def rolled_out(self, namespace: str) -> bool:
        """Every Deployment in the namespace has observed its spec and has all replicas updated and
        available, with no old pod left (what `kubectl rollout status` waits for)."""
        for dep in self.store.list("deployments.apps", namespace):
            status = dep.get("status") or {}
            replicas = replicas_of(dep)
            if (status.get("observedGeneration", 0) < dep["metadata"].get("generation", 1)
                    or status.get("updatedReplicas", 0) != replicas or status.get("replicas", 0) != replicas
                    or status.get("availableReplicas", 0) != replicas):
                return False
        return True

    def deleted(self, dep: dict) -> None:
        """The Deployment is gone: its ReplicaSets go too (and their pods with them)."""
        ns = dep["metadata"].get("namespace")
        for rs in self.store.list(RS, ns):
            if controlled_by(rs, dep):
                try:
                    self.store.delete(RS, ns, rs["metadata"]["name"])
                except Exception:
                    pass
