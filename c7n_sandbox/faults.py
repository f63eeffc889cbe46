"""Sandbox faults: every fault kind, registered here with the hooks where it acts; D/faults.json.

A kind is one subclass of :class:`Fault` decorated with :func:`register`. The sandbox calls its hooks:

  leaves_hook_jobs()            bootstrap (realcluster.py): install the 0.8 release with its hooks, leaving
                                their finished Jobs
  deploy_delay()                the helm wrapper's upgrade/install: seconds it hangs first
  on_pod_create(start)          the node, a pod started after the bootstrap: its version label, start delay,
                                how it fails to run (start.failure)
  on_health(pod, body, upgrading)  behaviours/health.py: add DOWN components to the pod's /health body
  refuses_mysql(upgrading)      the node: the MySQL proxy refuses every connection
  platform_failed()             behaviours/gateway.py (api-gateway's fault): every platform call but the
                                token answers HTTP 200 `{"failed": true}`

`upgrading` says that a helm upgrade/install of the release has begun since the bootstrap, as the
node sees it in the release storage (node/world.py, release_of_record).

faults.json: {"<release>": {"kind": "never-up", "arg": null}}; the release key is the default
release name or the actual one. Writes are atomic (temp file + rename).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional

FAULTS_FILE = "faults.json"
FLAP_PERIOD = 0.5


class FaultError(ValueError):
    """A fault spec that cannot be used; the message names the bad part."""


@dataclass(frozen=True)
class PodFailure:
    """How a pod fails to run on the node (node/choerodon.py): `image` (its pulls fail), `crash` (the
    container logs `output` and exits `exit_code` at each start)."""
    how: str
    output: tuple = ()
    exit_code: int = 1
    message: str = ""


@dataclass
class PodStart:
    """What a fault may change about a pod the node is about to start."""
    version_label: str                 # the choerodon.io/version label the pod will carry
    previous_version: Optional[str]    # the Deployment's version before its last template change
    start_delay: float                 # seconds until the pod listens
    owner_kind: str = "ReplicaSet"     # its controller's kind (a hook Job's pods: "Job")
    failure: Optional[PodFailure] = None  # set: the pod never runs as it should

    @property
    def service_pod(self) -> bool:
        """A pod of the release's service (not of its hook Jobs)."""
        return self.owner_kind != "Job"


@dataclass(frozen=True)
class Fault:
    """A fault of one release. Subclasses set `kind` and override the hooks they need."""
    kind: ClassVar[str] = ""
    takes_seconds: ClassVar[bool] = False
    seconds_optional: ClassVar[bool] = False   # KIND alone is allowed too (a default number of seconds)
    arg: Optional[str] = None

    def leaves_hook_jobs(self) -> bool:
        return False

    def deploy_delay(self) -> float:
        return 0.0

    def on_pod_create(self, start: PodStart) -> None:
        pass

    def on_health(self, pod: Any, body: dict, upgrading: bool) -> None:
        pass

    def refuses_mysql(self, upgrading: bool) -> bool:
        return False

    def platform_failed(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


KINDS: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    """Register a fault kind under its `kind` name."""
    KINDS[cls.kind] = cls
    return cls


@register
class NeverUp(Fault):
    """Pods of the release's new version report DOWN; clearing the fault brings them UP."""
    kind = "never-up"

    def on_health(self, pod, body, upgrading):
        if pod.after_bootstrap:
            body["refreshScope"] = {"status": "DOWN", "error": "org.springframework.beans.factory.BeanCreationException: "
                                    "Error creating bean with name 'dataSource' (sandbox fault never-up)"}


@register
class SlowStart(Fault):
    """New pods of the release start listening after SECONDS."""
    kind = "slow-start"
    takes_seconds = True

    @property
    def seconds(self) -> float:
        return float(self.arg)

    def on_pod_create(self, start):
        start.start_delay = self.seconds


@register
class WrongVersion(Fault):
    """New pods carry the old choerodon.io/version label."""
    kind = "wrong-version"

    def on_pod_create(self, start):
        if start.previous_version:
            start.version_label = start.previous_version


@register
class Flap(Fault):
    """Health of the release's new pods alternates UP and DOWN, every SECONDS (default 0.5)."""
    kind = "flap"
    takes_seconds = True
    seconds_optional = True

    @property
    def period(self) -> float:
        return float(self.arg) if self.arg else FLAP_PERIOD

    def on_health(self, pod, body, upgrading):
        if pod.after_bootstrap and pod.started_at is not None \
                and int((time.monotonic() - pod.started_at) / self.period) % 2 == 1:
            body["hystrix"] = {"status": "DOWN", "error": "circuit open (sandbox fault flap)"}


@register
class HelmHang(Fault):
    """helm upgrade/install of the release hangs SECONDS before it deploys (a helm that does not answer)."""
    kind = "helm-hang"
    takes_seconds = True

    def deploy_delay(self):
        return float(self.arg)


@register
class HelmFail(Fault):
    """helm upgrade/install of the release exits 1 and leaves a failed revision."""
    kind = "helm-fail"   # the helm wrapper acts on it (helmwrap.py: a post-renderer that fails)


@register
class LeftoverJobs(Fault):
    """The 0.8 install leaves its finished hook Jobs, so helm refuses until they are removed."""
    kind = "leftover-jobs"

    def leaves_hook_jobs(self):
        return True


@register
class DbDown(Fault):
    """From the release's helm upgrade/install on, MySQL refuses connections and its pods report db DOWN."""
    kind = "db-down"

    def on_health(self, pod, body, upgrading):
        if upgrading:
            body["db"] = {"status": "DOWN", "error": "org.springframework.jdbc.CannotGetJdbcConnectionException: "
                          "Could not get JDBC Connection; nested exception is "
                          "java.sql.SQLNonTransientConnectionException: Could not create connection to database server."}

    def refuses_mysql(self, upgrading):
        return upgrading


@register
class PlatformFailed(Fault):
    """(api-gateway) It issues tokens, but every platform call answers HTTP 200 `{"failed": true}`."""
    kind = "platform-failed"

    def platform_failed(self):
        return True


SPRING_FAILURE = (
    "INFO  [main] o.s.boot.SpringApplication: Starting application on its pod with PID 1",
    "WARN  [main] o.s.b.w.s.c.ServletWebServerApplicationContext: Exception encountered during context "
    "initialization - cancelling refresh attempt",
    "ERROR [main] o.s.boot.SpringApplication: Application run failed",
    "org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource': "
    "Failed to determine a suitable driver class (sandbox fault crash-loop)",
)
DBTOOL_FAILURE = (
    "INFO  [main] io.choerodon.liquibase.LiquibaseExecutor: Starting the database initialisation",
    "ERROR [main] liquibase: Migration failed for change set script/db/init.groovy::1::choerodon",
    "java.sql.SQLSyntaxErrorException: Access denied for user 'choerodon'@'%' to database (sandbox fault hook-fail)",
)


@register
class ImageMissing(Fault):
    """New pods of the release cannot pull their image: ErrImagePull, ImagePullBackOff, ErrImagePull, ..."""
    kind = "image-missing"

    def on_pod_create(self, start):
        if start.service_pod:
            start.failure = PodFailure("image")


@register
class CrashLoop(Fault):
    """New pods' container exits 1 at start, logging why: CrashLoopBackOff with the kubelet's back-off."""
    kind = "crash-loop"

    def on_pod_create(self, start):
        if start.service_pod:
            start.failure = PodFailure("crash", SPRING_FAILURE)


@register
class HookFail(Fault):
    """The release's hook Jobs fail: each pod exits 1 with log lines up to the backoffLimit, helm fails."""
    kind = "hook-fail"

    def on_pod_create(self, start):
        if not start.service_pod:
            start.failure = PodFailure("crash", DBTOOL_FAILURE)


@register
class Unschedulable(Fault):
    """New pods of the release stay Pending: the helm wrapper asks for more memory than the node has
    (helmwrap.py), so the real scheduler never binds them (PodScheduled=False, Unschedulable)."""
    kind = "unschedulable"


def validate(kind_name: str, arg: Optional[str]) -> Fault:
    """The fault of kind `kind_name` with `arg`; FaultError names what is wrong."""
    cls = KINDS.get(kind_name)
    if cls is None:
        raise FaultError(f"unknown fault kind {kind_name!r} (known: {', '.join(KINDS)})")
    if cls.takes_seconds and cls.seconds_optional and arg is None:
        pass
    elif cls.takes_seconds:
        if arg is None or arg == "":
            raise FaultError(f"fault kind {kind_name!r} needs an argument: {kind_name}:SECONDS")
        try:
            seconds = float(arg)
        except ValueError:
            raise FaultError(f"fault {kind_name!r}: argument {arg!r} is not a number of seconds") from None
        if seconds < 0:
            raise FaultError(f"fault {kind_name!r}: argument {arg!r} must not be negative")
    elif arg is not None:
        raise FaultError(f"fault kind {kind_name!r} takes no argument, got {arg!r}")
    return cls(arg)


def parse_fault(spec: str) -> tuple[str, Fault]:
    """'notify-service=slow-start:5' -> ('notify-service', SlowStart('5'))."""
    release, sep, rest = spec.partition("=")
    release = release.strip()
    if not sep:
        raise FaultError(f"fault {spec!r}: expected RELEASE=KIND[:ARG], the '=' is missing")
    if not release:
        raise FaultError(f"fault {spec!r}: the RELEASE part before '=' is empty")
    kind_name, colon, arg = rest.strip().partition(":")
    if not kind_name:
        raise FaultError(f"fault {spec!r}: the KIND part after '=' is empty")
    return release, validate(kind_name, arg if colon else None)


def _path(directory) -> Path:
    return Path(directory) / FAULTS_FILE


def load_faults(directory) -> dict[str, Fault]:
    path = _path(directory)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise FaultError(f"{path}: not valid JSON: {exc}") from None
    return {release: validate(item["kind"], item.get("arg")) for release, item in data.items()}


def save_faults(directory, faults: dict[str, Fault]) -> None:
    path = _path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {release: {"kind": f.kind, "arg": f.arg} for release, f in sorted(faults.items())}
    fd, tmp = tempfile.mkstemp(prefix=".faults.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def set_fault(directory, release: str, kind_name: str, arg: Optional[str] = None) -> Fault:
    fault = validate(kind_name, arg)
    faults = load_faults(directory)
    faults[release] = fault
    save_faults(directory, faults)
    return fault


def clear_fault(directory, release: str) -> bool:
    """Remove the release's fault; True when there was one."""
    faults = load_faults(directory)
    found = faults.pop(release, None) is not None
    save_faults(directory, faults)
    return found


def release_aliases(release: str, chart: str, release_names: dict, default_by_chart: dict) -> list[str]:
    """Every name a release goes by: actual and default (from --release-name and the plan)."""
    names = [release]
    inverse = {v: k for k, v in release_names.items()}
    if release in inverse:
        names.append(inverse[release])
    if chart and chart in default_by_chart:
        names.append(default_by_chart[chart])
    if release in release_names:
        names.append(release_names[release])
    return list(dict.fromkeys(n for n in names if n))


def fault_for(faults: dict[str, Fault], *names: Optional[str]) -> Optional[Fault]:
    """The fault of the first of `names` (actual name, default name) that has one."""
    for name in names:
        if name and name in faults:
            return faults[name]
    return None


class FaultWatch:
    """The faults in effect: D/faults.json, re-read when it changes; looked up by every name of a release."""

    def __init__(self, sandbox_dir: Optional[Path]):
        self.sandbox_dir = sandbox_dir
        self.faults: dict[str, Fault] = {}
        self._mtime: Optional[int] = None

    def reload(self, force: bool = False) -> None:
        if self.sandbox_dir is None:
            return
        try:
            mtime = (self.sandbox_dir / FAULTS_FILE).stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if not force and mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            new = load_faults(self.sandbox_dir)
        except Exception as exc:
            logging.getLogger("c7n_sandbox").warning("cannot read faults: %s", exc)
            return
        if new != self.faults:
            logging.getLogger("c7n_sandbox").info("faults now %s", {k: str(v) for k, v in new.items()})
        self.faults = new

    def fault_for(self, *names: str) -> Optional[Fault]:
        return fault_for(self.faults, *names)
