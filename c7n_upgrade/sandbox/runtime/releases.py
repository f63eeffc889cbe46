"""Which releases a helm has begun to upgrade or install since the bootstrap, read from the release
storage in the API store. Any helm, the sandbox's or a real Helm 3, stores a new revision record
before it changes the release's objects:

  Helm 3: Secret sh.helm.release.v1.NAME.vN, type helm.sh/release.v1, labels owner=helm, name=NAME
  Helm 2: ConfigMap NAME.vN in Tiller's namespace, labels OWNER=TILLER, NAME=NAME

A dry run stores nothing, so it begins nothing.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


def release_of_record(resource: str, obj: dict) -> Optional[str]:
    """The release name when `obj` is a helm release record, else None."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if resource == "secrets" and obj.get("type") == "helm.sh/release.v1" and labels.get("owner") == "helm":
        return labels.get("name")
    if resource == "configmaps" and labels.get("OWNER") == "TILLER":
        return labels.get("NAME")
    return None


class ReleaseWatch:
    """Store subscriber: remembers the releases that got a new revision once armed (after the bootstrap)."""

    def __init__(self, armed: bool = False):
        self._lock = threading.Lock()
        self._armed = armed
        self._upgrading: set[str] = set()

    def arm(self) -> None:
        """The 0.8 installation is done: from now on a new revision means an upgrade or install began."""
        self._armed = True

    def on_store_event(self, event_type: str, resource: str, obj: dict) -> None:
        if event_type != "ADDED" or not self._armed:
            return
        name = release_of_record(resource, obj)
        if not name:
            return
        with self._lock:
            if name in self._upgrading:
                return
            self._upgrading.add(name)
        log.info("runtime: release %s has a new revision in the release storage: its upgrade/install began", name)

    def upgrading(self, *names: str) -> bool:
        """Whether any of `names` (a release's actual and default names) began an upgrade/install."""
        with self._lock:
            return any(n in self._upgrading for n in names)
