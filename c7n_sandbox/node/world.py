"""The `world` the Choerodon behaviours see (behaviours/__init__.py), for the node on the real API
server: a pod cache (the node's own pod watch), the helm release records (has a release's upgrade
begun?), the CRDs, the faults of D/faults.json, and what whoever starts the node gives it
(:class:`ChoerodonConfig`: MariaDB, the platform's credentials)."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from ..behaviours.common import LABEL_METRICS, LABEL_SERVICE, LABEL_VERSION
from ..faults import Fault, FaultWatch, PodStart, release_aliases
from .listeners import bind_port, can_bind_privileged, resolve_target_port, running_version
from .watch import start_thread, watch

LABEL_RELEASE = "choerodon.io/release"
FAULT_TICK_S = 0.2
MERGE = "application/merge-patch+json"


def release_of_record(resource: str, obj: dict) -> Optional[str]:
    """The release name when `obj` is a helm release record (Helm 3: Secret sh.helm.release.v1.NAME.vN,
    labels owner=helm, name=NAME; Helm 2: ConfigMap NAME.vN in Tiller's namespace, labels OWNER=TILLER,
    NAME=NAME), else None. Any helm stores a new record before it changes the release's objects."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if resource == "secrets" and obj.get("type") == "helm.sh/release.v1" and labels.get("owner") == "helm":
        return labels.get("name")
    if resource == "configmaps" and labels.get("OWNER") == "TILLER":
        return labels.get("NAME")
    return None


@dataclass
class ChoerodonConfig:
    """What the node's Choerodon behaviours need from whoever starts the node (the launcher)."""
    namespace: str = "choerodon-devops-prod"     # where ready_pods() looks by default
    sandbox_dir: Optional[Path] = None            # D: faults.json, re-read when it changes
    mysql_admin: Optional[dict] = None            # {host, port, user, password}; None: no MySQL
    mysql_proxy: Any = None                       # .refuse(bool): db-down makes it refuse
    admin_password: str = ""
    oauth_client_id: str = "client"
    oauth_client_secret: str = ""
    release_names: dict = field(default_factory=dict)       # {default: actual}
    default_releases: Optional[dict] = None                 # {chart: default release}; None: the plan's
    plan: str = "0.8-to-0.9"                      # the sandbox's plan (a name or a path): its images, releases
    bootstrapped: bool = False                    # True: every pod from now on belongs to the upgrade
    privileged_ports: Optional[bool] = None       # None: found out (ports < 1024 served 8000 higher without)

    @classmethod
    def of(cls, value) -> "ChoerodonConfig":
        if isinstance(value, cls):
            return value
        return cls(**(value or {}))


class PodView:
    """A pod as the behaviours see it, read from `source()` each time."""

    def __init__(self, source: Callable[[], dict], env: Optional[dict] = None, ip: str = "",
                 after_bootstrap: bool = False, started_at: Optional[float] = None):
        self._source, self.env = source, env or {}
        self._ip, self.after_bootstrap, self.started_at = ip, after_bootstrap, started_at

    @property
    def obj(self) -> dict:
        return self._source()

    @property
    def namespace(self) -> str:
        return self.obj["metadata"]["namespace"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def uid(self) -> str:
        return self.obj["metadata"]["uid"]

    @property
    def labels(self) -> dict:
        return self.obj["metadata"].get("labels") or {}

    @property
    def spec(self) -> dict:
        return self.obj["spec"]

    @property
    def ip(self) -> str:
        return self._ip or (self.obj.get("status") or {}).get("podIP", "")

    service = property(lambda self: self.labels.get(LABEL_SERVICE, ""))
    release = property(lambda self: self.labels.get(LABEL_RELEASE, ""))

    @property
    def ports(self) -> list[int]:
        first = (self.spec.get("containers") or [{}])[0]
        return [int(p["containerPort"]) for p in first.get("ports") or [] if p.get("containerPort")]

    @property
    def metrics_port(self) -> Optional[int]:
        value = self.labels.get(LABEL_METRICS)
        return int(value) if value and str(value).isdigit() else None

    @property
    def version(self) -> str:
        first = (self.spec.get("containers") or [{}])[0]
        return running_version(first.get("image", ""), self.labels.get(LABEL_VERSION, ""))

    @property
    def ready(self) -> bool:
        conditions = (self.obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) \
            and not self.obj["metadata"].get("deletionTimestamp")


class PodStore:
    """The read-only `world.store` register.py reads: list("pods", namespace)."""

    def __init__(self, world: "NodeWorld"):
        self.world = world

    def list(self, resource: str, namespace: Optional[str] = None) -> list[dict]:
        if resource != "pods":
            return []
        with self.world.lock:
            pods = list(self.world.pods.values())
        return [p for p in pods if namespace is None or p["metadata"]["namespace"] == namespace]


class NodeWorld:
    def __init__(self, node, config: ChoerodonConfig):
        self.node, self.config = node, config
        self.namespace = config.namespace
        self.mysql_admin, self.mysql_proxy = config.mysql_admin, config.mysql_proxy
        self.admin_password = config.admin_password
        self.oauth_client_id, self.oauth_client_secret = config.oauth_client_id, config.oauth_client_secret
        self.privileged = can_bind_privileged() if config.privileged_ports is None else config.privileged_ports
        # the gateway's state (behaviours)
        self.tokens: dict[str, float] = {}
        self.memory_clients: dict[str, dict] = {}
        self.devops_check_logs: list[dict] = []
        self.lock = threading.RLock()
        self.pods: dict[str, dict] = {}                 # uid -> pod, every pod of this node
        self.store = PodStore(self)
        self.faults = FaultWatch(Path(config.sandbox_dir) if config.sandbox_dir else None)
        self._revisions: dict[str, int] = {}            # release -> newest revision stored
        self._baseline: Optional[dict[str, int]] = None  # the revisions at the bootstrap
        self._bootstrapped_at: Optional[float] = None
        self._listed = {"secrets": threading.Event(), "configmaps": threading.Event()}
        self._mysql_refusing = False
        self._defaults = config.default_releases
        self._threads: list[threading.Thread] = []

    # ---- lifecycle (the node calls these) ------------------------------------------------------
    def start(self, api) -> None:
        self.core, self.apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        self.batch, self.crds = k8s.BatchV1Api(api), k8s.ApiextensionsV1Api(api)
        self.faults.reload(force=True)
        stop, log = self.node._stop, self.node.log
        start_thread(lambda: watch(self.core.list_secret_for_all_namespaces, self._records("secrets"),
                                   self._record_event("secrets"), stop, log, "helm 3 releases",
                                   label_selector="owner=helm"), "node helm 3 releases", self._threads)
        start_thread(lambda: watch(lambda **kw: self.core.list_namespaced_config_map("kube-system", **kw),
                                   self._records("configmaps"), self._record_event("configmaps"), stop, log,
                                   "helm 2 releases", label_selector="OWNER=TILLER"), "node helm 2 releases",
                     self._threads)
        start_thread(self._fault_loop, "node faults", self._threads)
        if self.config.bootstrapped:
            self.mark_bootstrapped()

    def stop(self) -> None:
        for thread in self._threads:
            thread.join(2)
        if self.mysql_proxy is not None and self._mysql_refusing:
            try:
                self.mysql_proxy.refuse(False)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass

    def mark_bootstrapped(self) -> None:
        """The 0.8 installation is done: pods the node starts from now on belong to the upgrade, and a
        release revision newer than those stored now means its upgrade/install began."""
        for event in self._listed.values() if self._threads else ():   # started: the first lists done
            event.wait(10)
        with self.lock:
            self._baseline = dict(self._revisions)
            self._bootstrapped_at = time.monotonic()

    def pods_listed(self, items: list[dict]) -> None:
        with self.lock:
            self.pods = {p["metadata"]["uid"]: p for p in items}

    def pod_event(self, kind: str, pod: dict) -> None:
        with self.lock:
            if kind == "DELETED":
                self.pods.pop(pod["metadata"]["uid"], None)
            else:
                self.pods[pod["metadata"]["uid"]] = pod

    # ---- release records ---------------------------------------------------------------------
    def _records(self, resource: str):
        def listed(items: list[dict]) -> None:
            for obj in items:
                self._record(resource, obj)
            self._listed[resource].set()
        return listed

    def _record_event(self, resource: str):
        return lambda kind, obj: self._record(resource, obj) if kind != "DELETED" else None

    def _record(self, resource: str, obj: dict) -> None:
        name = release_of_record(resource, obj)
        labels = obj["metadata"].get("labels") or {}
        version = labels.get("version") or labels.get("VERSION") or "0"
        if name and version.isdigit():
            with self.lock:
                self._revisions[name] = max(self._revisions.get(name, 0), int(version))

    # ---- faults --------------------------------------------------------------------------------
    def _fault_loop(self) -> None:
        while not self.node._stop.wait(FAULT_TICK_S):
            try:
                self.faults.reload()
                refuse = any(fault.refuses_mysql(self._upgrading(self.names_of(release)))
                             for release, fault in self.faults.faults.items())
                if self.mysql_proxy is not None and refuse != self._mysql_refusing:
                    self.mysql_proxy.refuse(refuse)
                    self._mysql_refusing = refuse
                    self.node.log(f"node: MySQL proxy {'refuses' if refuse else 'accepts'} connections (db-down)")
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                self.node.log(f"node: faults: {exc!r}")

    def names_of(self, release: str, chart: str = "") -> list[str]:
        if self._defaults is None:
            from c7n_upgrade.plan import load_plan
            self._defaults = {s.chart: s.release for s in load_plan(self.config.plan).steps}
        return release_aliases(release, chart, self.config.release_names, self._defaults)

    def fault_of(self, labels: dict) -> Optional[Fault]:
        release = labels.get(LABEL_RELEASE)
        return self.faults.fault_for(*self.names_of(release, labels.get(LABEL_SERVICE, ""))) if release else None

    def after_bootstrap(self, worker) -> bool:
        with self.lock:
            return self._bootstrapped_at is not None and worker.seen >= self._bootstrapped_at

    def release_labels(self, worker) -> dict:
        """The labels that name a pod's release: its own, or its Job's (a hook Job's pod has none)."""
        labels = worker.pod["metadata"].get("labels") or {}
        if LABEL_RELEASE in labels:
            return labels
        if getattr(worker, "job_labels", None) is not None:
            return worker.job_labels
        worker.job_labels = {}
        for ref in worker.pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Job":
                try:
                    job = json.loads(self.batch.read_namespaced_job(ref["name"], worker.namespace,
                                                                   _preload_content=False).data)
                    worker.job_labels = job["metadata"].get("labels") or {}
                except ApiException:
                    pass
        return worker.job_labels

    def pod_start(self, worker) -> PodStart:
        """What the release's fault changes about this pod's (next) start (faults.PodStart)."""
        labels = worker.pod["metadata"].get("labels") or {}
        owners = worker.pod["metadata"].get("ownerReferences") or [{}]
        start = PodStart(labels.get(LABEL_VERSION, ""), None, 0.0, owner_kind=owners[0].get("kind", ""))
        fault = self.fault_of(self.release_labels(worker)) if self.after_bootstrap(worker) else None
        if fault is not None:
            if fault.kind == "wrong-version":
                start.previous_version = self._previous_version(worker)
            fault.on_pod_create(start)
        return start

    def _previous_version(self, worker) -> Optional[str]:
        """The version label of the Deployment's ReplicaSet before this pod's one."""
        refs = [r for r in worker.pod["metadata"].get("ownerReferences") or [] if r.get("kind") == "ReplicaSet"]
        if not refs:
            return None
        try:
            sets = json.loads(self.apps.list_namespaced_replica_set(worker.namespace, _preload_content=False).data)
        except ApiException:
            return None
        by_name = {rs["metadata"]["name"]: rs for rs in sets["items"]}
        mine = by_name.get(refs[0]["name"])
        if mine is None:
            return None
        owner = [r.get("uid") for r in mine["metadata"].get("ownerReferences") or []]

        def revision(rs: dict) -> int:
            return int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
        older = [rs for rs in sets["items"] if revision(rs) < revision(mine) and owner
                 and [r.get("uid") for r in rs["metadata"].get("ownerReferences") or []] == owner]
        if not older:
            return None
        labels = max(older, key=revision)["spec"]["template"]["metadata"].get("labels") or {}
        return labels.get(LABEL_VERSION)

    def relabel(self, worker, version: str) -> None:
        """wrong-version: the pod carries the old version label."""
        try:
            self.core.patch_namespaced_pod(worker.name, worker.namespace,
                                           {"metadata": {"labels": {LABEL_VERSION: version}}}, _content_type=MERGE,
                                           _preload_content=False)
        except ApiException as exc:   # deleted meanwhile: nothing to relabel
            self.node.log(f"node: relabelling {worker.namespace}/{worker.name}: {exc.status} {exc.reason}")

    # ---- the world behaviours see ---------------------------------------------------------------
    def pod_fault(self, pod) -> Optional[Fault]:
        return self.fault_of(pod.labels)

    def _upgrading(self, names: list[str]) -> bool:
        with self.lock:
            if self._baseline is None:
                return False
            return any(self._revisions.get(n, 0) > self._baseline.get(n, 0) for n in names)

    def upgrading(self, pod) -> bool:
        """A revision of the pod's release newer than at the bootstrap is stored: its upgrade began."""
        return self._upgrading(self.names_of(pod.release, pod.service))

    def ready_pods(self, chart: Optional[str], namespace: Optional[str] = None) -> list[PodView]:
        ns = namespace or self.namespace
        return [p for p in self._views() if p.ready and p.namespace == ns and p.service
                and (chart is None or p.service == chart)]

    def _views(self) -> list[PodView]:
        with self.lock:
            pods = list(self.pods.values())
        return [PodView(lambda p=p: p) for p in pods]

    def crd_exists(self, name: str) -> bool:
        try:
            self.crds.read_custom_resource_definition(name, _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def log(self, pod, line: str) -> None:
        """A line in the pod's service log; `pod` may be a view of the API's pod (ready_pods): then the
        line goes to the log of that pod's running service container."""
        writer = getattr(pod, "write_log", None)
        if writer is None:
            worker = self.node.workers.get(pod.uid)
            running = [c.process for c in (worker.containers if worker else ())]
            writer = next((p.write_log for p in running if hasattr(p, "write_log")), None)
        if writer is not None:
            writer(line)

    # ---- for the Services (proxy.ServiceProxy's `pods`) -------------------------------------------
    def ready_pods_matching(self, namespace: str, selector: dict) -> list[PodView]:
        return [p for p in self._views() if p.ready and p.namespace == namespace
                and all(p.labels.get(k) == v for k, v in (selector or {}).items())]

    def bind_port(self, port: int) -> int:
        """Ports below 1024 move up by 8000 without root."""
        return bind_port(port, self.privileged)

    resolve_target_port = staticmethod(resolve_target_port)
