"""The upgrade lock: a ConfigMap in the namespace naming its owner, host, pid and time."""
from __future__ import annotations

import datetime as _dt
import os
import socket
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

from .errors import KubeError
from .transport import Transport

DEFAULT_LOCK = "c7n-upgrade-lock"
LOCK_PREFIX = "c7n-upgrade/"


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class LockInfo:
    name: str
    namespace: str
    owner: str
    since: str
    host: str
    pid: str
    broken: Optional["LockInfo"] = None   # the holder whose lock was broken with --break-lock

    @classmethod
    def from_configmap(cls, cm: dict) -> "LockInfo":
        meta = cm.get("metadata") or {}
        ann = meta.get("annotations") or {}
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            owner=ann.get(LOCK_PREFIX + "owner", "?"),
            since=ann.get(LOCK_PREFIX + "since", "?"),
            host=ann.get(LOCK_PREFIX + "host", ""),
            pid=ann.get(LOCK_PREFIX + "pid", ""),
        )


class LockHeld(KubeError):
    """Another run holds the upgrade lock; `holder` says who, where and since when."""

    def __init__(self, holder: LockInfo):
        self.holder = holder
        self.owner, self.since = holder.owner, holder.since
        where = f" on host {holder.host}" if holder.host else ""
        pid = f" (pid {holder.pid})" if holder.pid else ""
        super().__init__(
            f"another upgrade run holds the lock ConfigMap {holder.namespace}/{holder.name}: owner {holder.owner!r}"
            f"{where}{pid} since {holder.since}. Wait for that run to finish; if it is gone and the lock is stale, "
            f"re-run with --break-lock."
        )


class Lock(Transport):
    def _cm_path(self, name: str | None = None) -> str:
        path = self._ns_path() + "/configmaps"
        return path + f"/{quote(name, safe='')}" if name else path

    def _lock_body(self, name: str, owner: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "c7n-upgrade"},
                "annotations": {
                    LOCK_PREFIX + "owner": owner,
                    LOCK_PREFIX + "since": _now_iso(),
                    LOCK_PREFIX + "host": socket.gethostname(),
                    LOCK_PREFIX + "pid": str(os.getpid()),
                },
            },
            "data": {"purpose": "Held while a Choerodon upgrade run is in progress. Delete only if that run is gone."},
        }

    def _lock_configmap(self, name: str) -> dict | None:
        return self._get_or_none(self._cm_path(name), resource="configmaps", namespace=self.namespace, name=name)

    def get_lock(self, name: str = DEFAULT_LOCK) -> LockInfo | None:
        cm = self._lock_configmap(name)
        return None if cm is None else LockInfo.from_configmap(cm)

    def acquire_lock(self, name: str = DEFAULT_LOCK, *, owner: str, break_lock: bool = False) -> LockInfo:
        """Take the upgrade lock (a ConfigMap). Raises `LockHeld` naming the holder unless `break_lock`."""
        body = self._lock_body(name, owner)
        resp = self._request("POST", self._cm_path(), verb="create", resource="configmaps", namespace=self.namespace,
                             body=body, raise_for_status=False, name=name)
        if 200 <= resp.status <= 299:
            return LockInfo.from_configmap(resp.json() or body)
        if resp.status != 409:
            self._raise(resp, "create", "configmaps", self.namespace, name)
        current = self._lock_configmap(name)
        if current is None:  # released between our create and this read: take it now
            return self.acquire_lock(name, owner=owner, break_lock=break_lock)
        holder = LockInfo.from_configmap(current)
        mine = holder.owner == owner and holder.host == socket.gethostname() and holder.pid == str(os.getpid())
        if mine:
            return holder
        if not break_lock:
            raise LockHeld(holder)
        body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        resp = self._request("PUT", self._cm_path(name), verb="update", resource="configmaps", namespace=self.namespace,
                             body=body, raise_for_status=False, name=name)
        if resp.status == 409:  # somebody else changed it in between: do not fight over it
            raise LockHeld(self.get_lock(name) or LockInfo(name, self.namespace, "?", "?", "", ""))
        if not 200 <= resp.status <= 299:
            self._raise(resp, "update", "configmaps", self.namespace, name)
        info = LockInfo.from_configmap(resp.json() or body)
        info.broken = holder
        return info

    def release_lock(self, name: str = DEFAULT_LOCK, *, owner: str) -> bool:
        """Delete the lock if `owner` still holds it. Returns True when deleted."""
        cm = self._lock_configmap(name)
        if cm is None:
            return False
        if LockInfo.from_configmap(cm).owner != owner:
            return False
        uid = (cm.get("metadata") or {}).get("uid")
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid:
            body["preconditions"] = {"uid": uid}
        return self._delete(self._cm_path(name), body, resource="configmaps", name=name, gone=(404, 409))
