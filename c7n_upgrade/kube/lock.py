"""The upgrade lock: a lease in a ConfigMap of the namespace, naming its owner, host, pid and time.

The holder renews it (`renewed`, every `LockLease.renew_every` seconds) and checks it before every
write, so a run whose lock was broken (`--break-lock` by another run) stops before its next write.
A lock another run finds is described with what makes it stale: a holder that is no longer running
on this host, or one that stopped renewing it. The holder also records the helm child it is running
(`helm-pid`, `helm-command`, redacted): while that helm's process group lives on this host the lock is
*busy*, never stale, whatever became of the holder. `--break-lock` refuses a busy lock and a live one
(its holder runs on this host and renews it): the holder must be stopped first.
"""
from __future__ import annotations

import datetime as _dt
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from .errors import KubeError
from .transport import Transport

DEFAULT_LOCK = "c7n-upgrade-lock"
LOCK_PREFIX = "c7n-upgrade/"
RENEW_EVERY = 15.0   # seconds between two renewals by the holder
LEASE = 60           # seconds after the last renewal a holder counts as gone (before it, --break-lock refuses)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _iso(when: _dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _parse(text: str) -> Optional[_dt.datetime]:
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def _running_here(pid: str) -> bool:
    """Whether process `pid` runs on this host (a pid we may not signal runs, as someone else's)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _group_running(pgid: str) -> bool:
    """Whether process group `pgid` (helm in its own session, and whatever it started) has a process
    here that has not ended: a zombie waiting to be reaped by init does not count (Linux: /proc)."""
    try:
        os.killpg(int(pgid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, OverflowError):
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


@dataclass
class LockInfo:
    name: str
    namespace: str
    owner: str
    since: str
    host: str
    pid: str
    renewed: str = ""
    helm_pid: str = ""       # the helm child the holder runs (its own process group), "" between calls
    helm_command: str = ""   # that helm's command line, redacted
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
            renewed=ann.get(LOCK_PREFIX + "renewed", ""),
            helm_pid=ann.get(LOCK_PREFIX + "helm-pid", ""),
            helm_command=ann.get(LOCK_PREFIX + "helm-command", ""),
        )

    def held_by(self, owner: str) -> bool:
        return self.owner == owner and self.host == socket.gethostname() and self.pid == str(os.getpid())

    def here(self) -> bool:
        return bool(self.host) and self.host == socket.gethostname()

    def helm_running(self) -> bool:
        """The holder's helm child (its process group) still runs on this host."""
        return self.here() and bool(self.helm_pid) and _group_running(self.helm_pid)

    def renewed_ago(self, now: Optional[_dt.datetime] = None) -> Optional[float]:
        renewed = _parse(self.renewed)
        return None if renewed is None else ((now or _now()) - renewed).total_seconds()

    def live(self, now: Optional[_dt.datetime] = None) -> bool:
        """The holder runs on this host and renews the lock (or the lock predates renewals)."""
        ago = self.renewed_ago(now)
        return self.here() and bool(self.pid) and _running_here(self.pid) and (ago is None or ago <= LEASE)

    def state(self, now: Optional[_dt.datetime] = None) -> str:
        """busy (its helm runs here) | live (its holder runs here, renewing) | stale | held (elsewhere)."""
        if self.helm_running():
            return "busy"
        if self.live(now):
            return "live"
        return "stale" if self.stale_reason(now) else "held"

    def helm_text(self) -> str:
        return f"helm pid {self.helm_pid}" + (f" (`{self.helm_command}`)" if self.helm_command else "")

    def break_refusal(self, now: Optional[_dt.datetime] = None) -> str:
        """Why --break-lock must not break this lock ("" when it may)."""
        state = self.state(now)
        if state == "busy":
            return (f"its holder's {self.helm_text()} is still running on this host: the lock is busy, not stale. "
                    f"Wait for that helm to finish (`ps -o pid,etime,args -g {self.helm_pid}`), then re-run")
        if state == "live":
            ago = self.renewed_ago(now)
            renewed = f", renewed {int(ago)}s ago" if ago is not None else ""
            return (f"its holder (pid {self.pid}) is alive on this host{renewed}. Stop that run first "
                    f"(Ctrl-C in its terminal, or `kill {self.pid}`), then re-run with --break-lock")
        ago = self.renewed_ago(now)
        if state == "held" and ago is not None and ago <= LEASE:  # another host's run, renewing now
            return (f"its holder on {self.host or 'another host'} (pid {self.pid}) renewed it {int(ago)}s ago: that "
                    f"run is alive. Stop it there first; a holder that stops renewing for {LEASE}s may be broken")
        return ""

    def stale_reason(self, now: Optional[_dt.datetime] = None) -> str:
        """Why the holder looks gone ("" when nothing says so, or while its helm still runs here)."""
        if self.helm_running():
            return ""
        if self.here() and self.pid and not _running_here(self.pid):
            return f"its holder (pid {self.pid}) is no longer running on this host"
        renewed = _parse(self.renewed)
        if renewed is not None and ((now or _now()) - renewed).total_seconds() > LEASE:
            return f"its holder has not renewed it since {self.renewed} (a live run renews it every {RENEW_EVERY:.0f}s)"
        return ""


def lock_text(holder, now: Optional[_dt.datetime] = None) -> str:
    """Who holds a lock, where and for how long: `owner alice@b2:42 on host b2 (pid 42), since T (3h 5m ago)`."""
    where = f" on host {holder.host}" if holder.host else ""
    pid = f" (pid {holder.pid})" if holder.pid else ""
    age = lock_age(holder.since, now)
    return (f"ConfigMap {holder.namespace}/{holder.name}, owner {holder.owner}{where}{pid}, "
            f"since {holder.since}" + (f" ({age} ago)" if age else ""))


def lock_age(since: str, now: Optional[_dt.datetime] = None) -> str:
    start = _parse(since)
    if start is None:
        return ""
    if start.tzinfo is None:
        start = start.replace(tzinfo=_dt.timezone.utc)
    seconds = int(((now or _dt.datetime.now(_dt.timezone.utc)) - start).total_seconds())
    if seconds < 0:
        return ""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(p for p in parts if p) or f"{secs}s"


class LockHeld(KubeError):
    """Another run holds the upgrade lock; `holder` says who, where and since when. `cause` is the run's
    one line for it: the holder and, when it looks gone, why and the command that breaks the lock (the
    run never breaks a lock by itself); the message adds what to do when it does not look gone."""

    def __init__(self, holder: LockInfo, break_command: str = "", *, breaking: bool = False):
        self.holder = holder
        state = holder.state()
        #: the summary's Next line: lock (held or stale), lock-busy (its helm runs), lock-live (break refused)
        refused = breaking and bool(holder.break_refusal())
        self.kind = "lock-busy" if state == "busy" else "lock-live" if refused else "lock"
        how = f": {break_command}" if break_command else " with --break-lock"
        head = ("--break-lock refused: " if breaking and self.kind != "lock" else "") + \
            "another upgrade run holds the lock: " + lock_text(holder)
        if self.kind != "lock":
            self.cause = f"{head}. {holder.break_refusal()}"
            super().__init__(f"{self.cause}.")
            return
        stale = holder.stale_reason()
        self.cause = head + (f". The lock is stale: {stale}. Break it on purpose{how}" if stale else "")
        advice = "" if stale else f". Wait for that run to finish; if it is gone and the lock is stale, re-run{how}"
        super().__init__(f"{self.cause}{advice}.")


class LockLost(KubeError):
    """This run no longer holds the upgrade lock (broken by another run, or deleted)."""


class Lock(Transport):
    def _cm_path(self, name: str | None = None) -> str:
        path = self._ns_path() + "/configmaps"
        return path + f"/{quote(name, safe='')}" if name else path

    def _lock_body(self, name: str, owner: str) -> dict:
        now = _iso(_now())
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "c7n-upgrade"},
                "annotations": {
                    LOCK_PREFIX + "owner": owner,
                    LOCK_PREFIX + "since": now,
                    LOCK_PREFIX + "renewed": now,
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

    def acquire_lock(self, name: str = DEFAULT_LOCK, *, owner: str, break_lock: bool = False,
                     break_command: str = "") -> LockInfo:
        """Take the upgrade lock (a ConfigMap). Raises `LockHeld` naming the holder unless `break_lock`."""
        body = self._lock_body(name, owner)
        resp = self._request("POST", self._cm_path(), verb="create", resource="configmaps", namespace=self.namespace,
                             body=body, raise_for_status=False, name=name, guarded=False)
        if 200 <= resp.status <= 299:
            return LockInfo.from_configmap(resp.json() or body)
        if resp.status != 409:
            self._raise(resp, "create", "configmaps", self.namespace, name)
        current = self._lock_configmap(name)
        if current is None:  # released between our create and this read: take it now
            return self.acquire_lock(name, owner=owner, break_lock=break_lock, break_command=break_command)
        holder = LockInfo.from_configmap(current)
        if holder.held_by(owner):
            return holder
        if not break_lock or holder.break_refusal():
            raise LockHeld(holder, break_command, breaking=break_lock)
        body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        resp = self._request("PUT", self._cm_path(name), verb="update", resource="configmaps", namespace=self.namespace,
                             body=body, raise_for_status=False, name=name, guarded=False)
        if resp.status == 409:  # somebody else changed it in between: do not fight over it
            raise LockHeld(self.get_lock(name) or LockInfo(name, self.namespace, "?", "?", "", ""), break_command)
        if not 200 <= resp.status <= 299:
            self._raise(resp, "update", "configmaps", self.namespace, name)
        info = LockInfo.from_configmap(resp.json() or body)
        info.broken = holder
        return info

    def check_lock(self, name: str = DEFAULT_LOCK, *, owner: str) -> dict:
        """The lock ConfigMap, when `owner` (this process) still holds it; `LockLost` otherwise."""
        cm = self._lock_configmap(name)
        if cm is None:
            raise LockLost(f"the upgrade lock {self.namespace}/{name} is gone (deleted by someone else)")
        holder = LockInfo.from_configmap(cm)
        if not holder.held_by(owner):
            raise LockLost(f"the upgrade lock {self.namespace}/{name} was taken over by {holder.owner!r} on host "
                           f"{holder.host} (pid {holder.pid}) at {holder.since} (--break-lock)")
        return cm

    def renew_lock(self, name: str = DEFAULT_LOCK, *, owner: str) -> None:
        """Mark the lock renewed now, only if `owner` still holds it unchanged; `LockLost` otherwise."""
        self._annotate(name, owner, {"renewed": _iso(_now())}, attempts=1)

    def record_helm(self, name: str = DEFAULT_LOCK, *, owner: str, pid: Optional[int], command: str = "") -> None:
        """Record in the lock the helm child `owner` runs now (`pid` None: it ended)."""
        self._annotate(name, owner, {"helm-pid": str(pid) if pid else None,
                                     "helm-command": command[:400] if pid else None}, attempts=3)

    def _annotate(self, name: str, owner: str, changes: dict, attempts: int) -> None:
        """Set (None: remove) annotations of the lock `owner` holds, with the read's resourceVersion; on a
        conflict (a renewal in between) read and try again, `attempts` in all. `LockLost` when not held."""
        for _ in range(attempts):
            cm = self.check_lock(name, owner=owner)
            ann = cm.setdefault("metadata", {}).setdefault("annotations", {})
            for key, value in changes.items():
                if value is None:
                    ann.pop(LOCK_PREFIX + key, None)
                else:
                    ann[LOCK_PREFIX + key] = value
            resp = self._request("PUT", self._cm_path(name), verb="update", resource="configmaps",
                                 namespace=self.namespace, body=cm, raise_for_status=False, name=name, guarded=False)
            if 200 <= resp.status <= 299:
                return
            if resp.status != 409:
                self._raise(resp, "update", "configmaps", self.namespace, name)
        self.check_lock(name, owner=owner)  # changed since we read it: whoever did it, look again

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
        return self._delete(self._cm_path(name), body, resource="configmaps", name=name, gone=(404, 409),
                            guarded=False)


class LockLease:
    """The lock as this run holds it: renewed in the background, checked before every write."""

    def __init__(self, kube: Lock, owner: str, name: str = DEFAULT_LOCK, renew_every: float = RENEW_EVERY):
        self.kube, self.owner, self.name = kube, owner, name
        self.renew_every = renew_every
        self.lost: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def acquire(self, *, break_lock: bool = False, break_command: str = "") -> LockInfo:
        info = self.kube.acquire_lock(self.name, owner=self.owner, break_lock=break_lock, break_command=break_command)
        self._thread = threading.Thread(target=self._renew, name="upgrade-lock-renewal", daemon=True)
        self._thread.start()
        return info

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                self.kube.renew_lock(self.name, owner=self.owner)
            except LockLost as exc:
                self.lost = str(exc)
                return
            except KubeError:  # the API server did not answer: the next check before a write says so
                continue

    def record_helm(self, pid: Optional[int], command: str = "") -> None:
        """The helm child this run starts (pid) or that ended (None), for a run that finds the lock
        after this one died: busy while that helm lives. Never stops the helm call itself."""
        try:
            self.kube.record_helm(self.name, owner=self.owner, pid=pid, command=command)
        except KubeError:  # lost or unanswered: the check before the next write says so
            pass

    def check(self, what: str) -> None:
        """Before a write: `LockLost` naming the write when this run no longer holds the lock."""
        try:
            if self.lost:
                raise LockLost(self.lost)
            self.kube.check_lock(self.name, owner=self.owner)
        except LockLost as exc:
            self.lost = str(exc).split("; stopping before", 1)[0]
            raise LockLost(f"{self.lost}; stopping before {what}: another run may be upgrading now") from None

    def release(self) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.lost:
            return False
        return self.kube.release_lock(self.name, owner=self.owner)
