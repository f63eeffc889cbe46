"""The Runtime: wires the controllers to the store, runs their loops, and is the `world` the pods'
behaviours see (see behaviours/__init__.py for what they use)."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from .. import behaviours
from ..faults import Fault, PodStart, release_aliases
from .barepods import BarePods
from .broken import BrokenStarts
from .containers import container_of
from .daemonsets import DaemonSets
from .deployments import Deployments, previous_version
from .endpoints import Endpoints
from .faultwatch import FaultWatch
from .jobs import Jobs
from .loop import ControlLoop
from .node import register_node
from .pods import LABEL_RELEASE, LABEL_SERVICE, LABEL_VERSION, Kubelet, PodInfo, can_bind_privileged
from .readiness import probe_pods
from .releases import ReleaseWatch
from .replicasets import ReplicaSets
from .serviceaccounts import ServiceAccounts
from .services import Services
from .statefulsets import StatefulSets
from .workload import controller_of
from .xwiki_operator import XWikiOperator

log = logging.getLogger("c7n_upgrade.sandbox.runtime")

EXEC_START_SECONDS = 0.15


class Runtime:
    """Runs the simulated cluster's workloads for the objects in `store`.

    sandbox_dir: D (faults.json); plan: the Plan; namespace: the plan namespace.
    mysql_admin: {host, port, user, password} of the MariaDB server (None: no MySQL, the gateway
    keeps OAuth clients and devops check logs in memory). mysql_proxy: the TcpProxy clients use
    (db-down makes it refuse). release_names: {default: actual}. kube_minor: the node's kubelet version.
    backoff_scale: the kubelet's and the Job controller's back-offs (10 s, doubling) times this.
    It is also the API server's `pods` (exec_in_pod, pod_address) for exec and port-forward.
    """

    def __init__(self, store, sandbox_dir, plan, namespace: str, *,
                 mysql_admin: Optional[dict] = None, mysql_proxy=None,
                 admin_password: str = "", oauth_client_id: str = "client", oauth_client_secret: str = "",
                 release_names: Optional[dict] = None, start_delay: tuple[float, float] = (0.3, 0.8),
                 readiness_interval: float = 0.15, job_delay: float = 0.3,
                 privileged_ports: Optional[bool] = None, bootstrapped: bool = False,
                 xwiki_operator: Optional[Callable[[], Any]] = None, xwiki_after_step: int = 10,
                 kube_minor: int = 15, backoff_scale: float = 0.1):
        self.store, self.plan, self.namespace = store, plan, namespace
        self.release_names = dict(release_names or {})
        # what the behaviours use: MySQL, the platform's credentials
        self.mysql_admin, self.mysql_proxy = mysql_admin, mysql_proxy
        self.admin_password = admin_password
        self.oauth_client_id, self.oauth_client_secret = oauth_client_id, oauth_client_secret
        self.readiness_interval = readiness_interval
        self.privileged = can_bind_privileged() if privileged_ports is None else privileged_ports
        self.bootstrapped = bootstrapped
        # the gateway's state (behaviours)
        self.tokens: dict[str, float] = {}
        self.memory_clients: dict[str, dict] = {}
        self.devops_check_logs: list[dict] = []
        # the parts
        self.loop = ControlLoop()
        self.kubelet = Kubelet(store, self.loop, self, privileged=self.privileged, start_delay=start_delay)
        self.kubelet.broken = BrokenStarts(self.kubelet, self._still_failing, backoff_scale)
        self.deployments = Deployments(store)
        self.replicasets = ReplicaSets(store, self.kubelet, spawn=self.spawn_pod,
                                       previous_version=lambda rs: previous_version(store, rs))
        # the controllers whose objects own pods, by kind and by resource
        self.pod_owners = {"ReplicaSet": self.replicasets,
                           "ReplicationController": ReplicaSets(store, self.kubelet, spawn=self.spawn_pod,
                                                                kind="ReplicationController"),
                           "StatefulSet": StatefulSets(store, self.kubelet, spawn=self.spawn_pod),
                           "DaemonSet": DaemonSets(store, self.kubelet, spawn=self.spawn_pod)}
        self._owner_kinds = {"replicasets": "ReplicaSet", "replicationcontrollers": "ReplicationController",
                             "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}
        self.services = Services(store, self.kubelet)
        self.jobs = Jobs(store, self.loop, delay=job_delay, fault_of=self._job_fault, run_pod=self._run_job_pod,
                         backoff=self.kubelet.broken.backoff)
        self.kube_minor = kube_minor
        self.bare_pods = BarePods(store, self.kubelet, {s.chart: s.health_port for s in (plan.steps if plan else [])},
                                  start_delay=start_delay)
        self.endpoints = Endpoints(store, self.loop)
        self.service_accounts = ServiceAccounts(store)
        self.faults = FaultWatch(Path(sandbox_dir) if sandbox_dir is not None else None)
        self.releases = ReleaseWatch(armed=bootstrapped)
        self.xwiki = XWikiOperator(self.kubelet, plan, namespace, xwiki_operator, after_step=xwiki_after_step) \
            if xwiki_operator is not None else None
        self._default_by_chart = {s.chart: s.release for s in (plan.steps if plan is not None else [])}
        self._mysql_refusing = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Runtime":
        self.faults.reload(force=True)
        register_node(self.store, self.kube_minor)
        self.store.subscribe(self._on_store_event)
        for resource in ("namespaces", "services", "deployments.apps", "replicasets.apps", "replicationcontrollers",
                         "statefulsets.apps", "daemonsets.apps", "jobs.batch", "pods"):  # adopt what is already there
            try:
                for obj in self.store.list(resource):
                    self.loop.submit(self._handle, "ADDED", resource, obj)
            except Exception:
                pass
        for target, name in ((self.loop.run, "runtime-controller"), (self._readiness_loop, "runtime-readiness")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop every listener (pods and services) and the loops. Safe to call twice."""
        self._stop.set()
        self.loop.stop()
        unsubscribe = getattr(self.store, "unsubscribe", None)
        if unsubscribe:
            unsubscribe(self._on_store_event)
        for t in self._threads:
            t.join(5)
        self._threads = []
        closers = self.kubelet.stop() + self.services.stop()
        for t in closers:
            t.join(5)
        if self.mysql_proxy is not None and self._mysql_refusing:
            try:
                self.mysql_proxy.refuse(False)
            except Exception:
                pass

    def mark_bootstrapped(self) -> None:
        """From now on pods belong to the upgrade: faults for "new" pods apply, and a new release
        revision in the release storage means that release's upgrade/install began."""
        self.bootstrapped = True
        self.releases.arm()

    # ------------------------------------------------------------------ store events
    def _on_store_event(self, event_type: str, resource: str, obj: dict) -> None:
        self.releases.on_store_event(event_type, resource, obj)
        if not self._stop.is_set():
            self.loop.submit(self._handle, event_type, resource, obj)

    def _handle(self, event_type: str, resource: str, obj: dict) -> None:
        plural = resource.split(".", 1)[0]
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if plural == "deployments":
            if event_type == "DELETED":
                self.deployments.deleted(obj)
            else:
                self.deployments.reconcile(ns, name)
        elif plural in self._owner_kinds:
            self.pod_owners[self._owner_kinds[plural]].reconcile(ns, name)
            ref = controller_of(obj)
            if ref is not None and ref.get("kind") == "Deployment":
                self.deployments.reconcile(ns, ref["name"])
        elif plural == "pods":
            if event_type == "DELETED":
                pod = self.kubelet.forget(ns, name, meta.get("uid", ""))
                if pod is not None and pod.owner:
                    self.reconcile_owner(pod.owner)
            elif event_type == "ADDED":
                self.bare_pods.adopt(obj)
            self.endpoints.on_event(event_type, resource, obj)
        elif plural == "services":
            if event_type == "DELETED":
                self.services.deleted((ns, name))
            else:
                self.services.ensure(obj)
            self.endpoints.on_event(event_type, resource, obj)
        elif plural == "jobs" and event_type == "ADDED":
            self.jobs.added(obj)
        elif plural in ("namespaces", "serviceaccounts"):
            self.service_accounts.on_event(event_type, resource, obj)

    # ------------------------------------------------------------------ readiness loop
    def _readiness_loop(self) -> None:
        while not self._stop.wait(self.readiness_interval):
            try:
                self.faults.reload()
                self._update_mysql_gate()
                for owner in probe_pods(self.kubelet, lambda pod: behaviours.health(self, pod)):
                    if owner:
                        self.loop.submit(self.reconcile_owner, owner)
                if self.xwiki is not None:
                    self.xwiki.check()
            except Exception:
                log.exception("runtime: readiness loop")

    def _update_mysql_gate(self) -> None:
        """The MySQL proxy refuses connections while a fault says so (db-down)."""
        refuse = any(fault.refuses_mysql(self.releases.upgrading(*self.names_of(release)))
                     for release, fault in self.faults.faults.items())
        if self.mysql_proxy is not None and refuse != self._mysql_refusing:
            try:
                self.mysql_proxy.refuse(refuse)
                self._mysql_refusing = refuse
                log.info("runtime: MySQL proxy %s", "refuses connections (db-down)" if refuse else "accepts connections")
            except Exception:
                log.exception("runtime: MySQL proxy refuse(%s)", refuse)

    def reconcile_owner(self, owner: tuple) -> None:
        """Reconcile the controller of a pod: owner is (kind, namespace, name)."""
        kind, ns, name = owner
        if kind in self.pod_owners:
            self.pod_owners[kind].reconcile(ns, name)

    def spawn_pod(self, owner: dict, template: dict, **kwargs) -> PodInfo:
        """A new pod of a controller; pods created after the bootstrap belong to the upgrade, and the
        release's fault (if any) applies to them."""
        labels = (template.get("metadata") or {}).get("labels") or {}
        bootstrapped = self.bootstrapped
        release = labels.get(LABEL_RELEASE, owner["metadata"]["name"])
        fault = self.fault_for_release(release, labels.get(LABEL_SERVICE, "")) if bootstrapped else None
        return self.kubelet.create_pod(owner, template, fault=fault, after_bootstrap=bootstrapped, **kwargs)

    # ------------------------------------------------------------------ releases and faults
    def names_of(self, release: str, chart: str = "") -> list[str]:
        """Every name the release goes by: actual and default (from --release-name and the plan)."""
        return release_aliases(release, chart, self.release_names, self._default_by_chart)

    def fault_for_release(self, release: str, chart: str = "") -> Optional[Fault]:
        return self.faults.fault_for(*self.names_of(release, chart))

    def _job_fault(self, job: dict) -> Optional[Fault]:
        """The fault of a (hook) Job's release, after the bootstrap."""
        labels = (job.get("metadata") or {}).get("labels") or {}
        release = labels.get(LABEL_RELEASE)
        return self.fault_for_release(release, labels.get(LABEL_SERVICE, "")) if release and self.bootstrapped else None

    def _run_job_pod(self, job: dict, fault: Fault) -> PodInfo:
        meta = job["metadata"]
        return self.kubelet.create_pod(job, (job.get("spec") or {}).get("template") or {}, fault=fault,
                                       extra_labels={"controller-uid": meta.get("uid", ""), "job-name": meta["name"]},
                                       after_bootstrap=True)

    def _still_failing(self, pod: PodInfo) -> bool:
        """Whether a fault still keeps `pod` from running (cleared: its next try succeeds)."""
        kind = pod.owner[0] if pod.owner else ""
        if kind == "Job":
            job = self.store.get_or_none("jobs.batch", pod.owner[1], pod.owner[2])
            fault = self._job_fault(job) if job is not None else None
        else:
            fault = self.pod_fault(pod)
        start = PodStart(pod.labels.get(LABEL_VERSION, ""), None, 0.0, owner_kind=kind)
        if fault is not None:
            fault.on_pod_create(start)
        return start.failure is not None

    # ------------------------------------------------------------------ the world behaviours see
    def pod_fault(self, pod: PodInfo) -> Optional[Fault]:
        return self.fault_for_release(pod.release, pod.service)

    def upgrading(self, pod: PodInfo) -> bool:
        """A helm upgrade/install of the pod's release has begun since the bootstrap."""
        return self.releases.upgrading(*self.names_of(pod.release, pod.service))

    def ready_pods(self, chart: Optional[str], namespace: Optional[str] = None) -> list[PodInfo]:
        ns = namespace or self.namespace
        return [p for p in self.kubelet.live_pods() if p.ready and p.namespace == ns and p.service
                and (chart is None or p.service == chart)]

    def crd_exists(self, name: str) -> bool:
        return self.store.get_or_none("customresourcedefinitions.apiextensions.k8s.io", None, name) is not None

    def log(self, pod: PodInfo, line: str) -> None:
        self.kubelet.log(pod, line)

    # ------------------------------------------------------------------ for the launcher and the API server
    def pods(self) -> list[PodInfo]:
        return self.kubelet.pods()

    def pod_log(self, namespace: str, name: str, tail: Optional[int] = None, follow: bool = False,
                previous: bool = False):
        """The pod's log (None when the runtime does not know the pod); for ApiServer's log_provider.
        follow: an iterator of chunks that ends with the pod (`logs -f`); previous: its container's last
        run (`logs --previous`, None when none ended here)."""
        if previous:  # a generic container's only run (barepods.py) is its log
            last = self.kubelet.broken.previous_log(namespace, name, tail)
            return last if last is not None else self.kubelet.pod_log(namespace, name, tail)
        if follow:
            return self.kubelet.follow_log(namespace, name, tail)
        return self.kubelet.pod_log(namespace, name, tail)

    def exec_in_pod(self, namespace: str, name: str, container: str, command: list[str],
                    stdin: Optional[Callable[[], bytes]] = None) -> tuple[int, bytes, bytes]:
        """Run one of the commands the sandbox answers in a running container (containers.py); any
        other exits 126 with a message. For the API server's exec."""
        pod, obj = self.kubelet.pod(namespace, name), self.store.get_or_none("pods", namespace, name)
        if pod is None or pod.deleted or obj is None:
            return 126, b"", f"sandbox: pod {namespace}/{name} is not running\n".encode()
        # the process starts as a container runtime's exec does, not at once: kubectl's websocket
        # executor registers its streams only after the handshake, and drops output that comes first
        time.sleep(EXEC_START_SECONDS)
        code, out, err, _ = container_of(self.store, obj, container, pod.ip).run(command, stdin)
        return code, out, err

    def pod_address(self, namespace: str, name: str, port: int) -> Optional[tuple[str, int]]:
        """Where the pod listens for `port` (ports below 1024 served 8000 higher without root);
        None when the pod does not run. For the API server's port-forward."""
        pod = self.kubelet.pod(namespace, name)
        if pod is None or pod.deleted or pod.started_at is None:
            return None
        return pod.ip, self.kubelet.bind_port(port)

    def bound_port(self, port: int) -> int:
        """The port pods and services really listen on for `port` (for the API server's proxy)."""
        return self.kubelet.bind_port(port)

    def all_ready(self, namespace: Optional[str] = None) -> bool:
        """Every Deployment in the namespace has rolled out: all replicas updated and available, no old pod."""
        return self.deployments.rolled_out(namespace or self.namespace)
