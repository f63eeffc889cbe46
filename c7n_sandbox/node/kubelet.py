"""The sandbox's node: a kubelet stand-in, as kwok is one, talking to the real API server through
the official client. It registers a Node, keeps it Ready (a Lease in kube-node-lease renewed every
10 s, and its status), gives each pod bound to it its own loopback address and runs it (pod.py).

    node = Node(kubeconfig, directory).start()   # … node.stop()

Containers of Choerodon images serve their service's behaviour (choerodon.py, world.py) and the
node plays kube-proxy for Services with a selector (proxy.py). Constructor arguments:
  kubeconfig, directory    the API server's kubeconfig (context `context`); pods' logs and files
  crash_backoff, max_backoff   the kubelet's back-off (10 s doubling up to 5 min)
  pod_cidr, address        pod IPs (loopback); the node's address (kubelet API)
  choerodon                world.ChoerodonConfig or a dict of its fields: namespace, sandbox_dir
                           (faults.json), mysql_admin, mysql_proxy, admin_password, oauth_client_id,
                           oauth_client_secret, release_names, default_releases, bootstrapped,
                           privileged_ports, plan (its Choerodon images are the ones known)
  services                 play kube-proxy (clusterIP:port -> a Ready pod), default True
node.mark_bootstrapped(): the 0.8 installation is done, faults act on the pods started from now on.
"""
from __future__ import annotations

import ipaddress
import json
import platform
import random
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import urllib3
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from . import choerodon, images
from .pod import PodWorker
from .process import Process
from .proxy import ServiceProxies
from .watch import start_thread, watch
from .world import ChoerodonConfig, NodeWorld

KUBELET_VERSION = "v1.34.4"
LEASE_S = 40          # the kubelet's leaseDurationSeconds
RENEW_S = 10          # it renews at a quarter of that
STATUS_S = 60         # and reports its status at least this often (the node controller's grace: 50 s)
CAPACITY = {"cpu": "32", "memory": "263864320Ki", "pods": "250", "ephemeral-storage": "104857600Ki",
            "hugepages-2Mi": "0"}
MERGE = "application/merge-patch+json"


def micro_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bindable(ip: str, ports: set, world) -> bool:
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((ip, world.bind_port(port)))
            except PermissionError:
                continue   # below 1024 without root: the process would fail the same anywhere
            except OSError:
                return False
    return True


LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class NodeError(Exception):
    """The node could not register or did not become Ready in time."""


class Node:
    def __init__(self, kubeconfig: Path, directory: Path, name: str = "sandbox-node", context: str = "sandbox",
                 crash_backoff: float = 10.0, max_backoff: float = 300.0, pod_cidr: str = "127.77.0.0/16",
                 address: str = "127.0.0.1", log=lambda line: None, serve: bool = True, choerodon=None,
                 services: bool = True):
        if not (ipaddress.ip_address(address).is_loopback and ipaddress.ip_network(pod_cidr).subnet_of(LOOPBACK)):
            raise NodeError(f"node {name}: its address ({address}) and pod CIDR ({pod_cidr}) must be loopback "
                            f"({LOOPBACK}): nothing of the sandbox listens beyond this machine")
        self.kubeconfig, self.dir, self.name, self.context = Path(kubeconfig), Path(directory), name, context
        self.crash_base, self.max_backoff = crash_backoff, max_backoff
        self.address = address
        self.pod_cidr = pod_cidr
        self.log = log
        self.serve = serve
        self._network = ipaddress.ip_network(pod_cidr)
        self._in_use: set[str] = set()
        self.workers: dict[str, PodWorker] = {}
        self._lock = threading.RLock()
        self._events: dict[tuple, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server = None
        self.port = 0
        self.world = NodeWorld(self, ChoerodonConfig.of(choerodon))
        self.proxies = ServiceProxies(self) if services else None

    # ---- start and stop ---------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> "Node":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.api = kube_config.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)
        self.core = k8s.CoreV1Api(self.api)
        self.coordination = k8s.CoordinationV1Api(self.api)
        host = self.api.configuration.host
        self._service_env = {"KUBERNETES_SERVICE_HOST": host.split("//")[1].rsplit(":", 1)[0],
                             "KUBERNETES_SERVICE_PORT": host.rsplit(":", 1)[1]}
        try:
            if self.serve:
                from .server import KubeletServer
                self.server = KubeletServer(self, self.dir / "pki")
                self.port = self.server.start()
            self._register()
            for target, name in ((self._heartbeat, "node heartbeat"), (self._watch, "node pods")):
                start_thread(target, name, self._threads)
            self.world.start(self.api)
            if self.proxies:
                self.proxies.start()
            self._wait_ready(timeout)
        except BaseException:
            self.stop()   # a failed start leaves no listener, heartbeat or pod running
            raise
        self.log(f"node: {self.name} Ready (kubelet API on {self.address}:{self.port})")
        return self

    def stop(self) -> None:
        """Stop watching, kill every container, stop serving. The Node stays, as a stopped kubelet's
        does: the node controller marks it NotReady after its grace period."""
        self._stop.set()
        with self._lock:
            workers = list(self.workers.values())
            self.workers.clear()
        for worker in workers:
            worker.stop()
        if self.proxies:
            self.proxies.stop()
        self.world.stop()
        if self.server:
            self.server.stop()
        for thread in self._threads:
            thread.join(2)
        self.api.close()

    def __enter__(self) -> "Node":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- registration and heartbeat -----------------------------------------------------------
    def _register(self) -> None:
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "type": "c7n-sandbox"}
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name, "labels": labels},
                "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}}
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise NodeError(f"registering node {self.name}: {exc.status} {exc.reason}: {exc.body}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise NodeError(f"registering node {self.name}: cannot reach the API server at "
                            f"{self.api.configuration.host} ({type(exc).__name__})") from None
        self._post_status()
        self._renew_lease()

    def _node_status(self) -> dict:
        beat = now_iso()
        conditions = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status")]
        if not hasattr(self, "_since"):
            self._since = beat
        uname = platform.uname()
        return {
            "capacity": CAPACITY, "allocatable": CAPACITY,
            "conditions": [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": beat,
                            "lastTransitionTime": self._since} for t, s, r, m in conditions],
            "addresses": [{"type": "InternalIP", "address": self.address}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port or 10250}},
            "nodeInfo": {"machineID": uuid.uuid5(uuid.NAMESPACE_DNS, self.name).hex,
                         "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, self.name)),
                         "bootID": str(uuid.uuid4()), "kernelVersion": uname.release,
                         "osImage": "c7n-upgrade sandbox node (processes on this machine)",
                         "containerRuntimeVersion": "sandbox://0.1.0", "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}

    def _post_status(self) -> None:
        self.core.patch_node_status(self.name, {"status": self._node_status()}, _content_type=MERGE)

    def _renew_lease(self) -> None:
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_S, "renewTime": micro_time()}
        try:
            self.coordination.patch_namespaced_lease(self.name, "kube-node-lease", {"spec": spec}, _content_type=MERGE)
        except ApiException as exc:
            if exc.status != 404:
                raise
            node = self.core.read_node(self.name, _preload_content=False)
            uid = json.loads(node.data)["metadata"]["uid"]
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": uid}
            self.coordination.create_namespaced_lease("kube-node-lease", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "ownerReferences": [owner]}, "spec": spec})

    def _heartbeat(self) -> None:
        last_status = time.monotonic()
        while not self._stop.wait(RENEW_S):
            try:
                self._renew_lease()
                if time.monotonic() - last_status >= STATUS_S:
                    self._post_status()
                    last_status = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - keep beating; the next try may pass
                self.log(f"node: heartbeat failed: {exc!r}")

    def _wait_ready(self, timeout: float) -> None:
        """Ready means schedulable: the Node is Ready and carries no not-ready taint."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = json.loads(self.core.read_node(self.name, _preload_content=False).data)
            taints = [t["key"] for t in node["spec"].get("taints") or []]
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions") or [])
            if ready and not taints:
                return
            time.sleep(0.2)
        raise NodeError(f"node {self.name} not schedulable after {timeout:.0f} s (taints {taints})")

    # ---- pods -----------------------------------------------------------------------------------
    def _watch(self) -> None:
        watch(self.core.list_pod_for_all_namespaces, self._listed, self._pod_event, self._stop, self.log, "pods",
              field_selector=f"spec.nodeName={self.name}")

    def _listed(self, items: list[dict]) -> None:
        present = set()
        for pod in items:
            present.add(pod["metadata"]["uid"])
            self._sync(pod)
        with self._lock:
            gone = [uid for uid in self.workers if uid not in present]
        for uid in gone:
            self._gone(uid)
        self.world.pods_listed(items)

    def _pod_event(self, kind: str, pod: dict) -> None:
        if kind == "DELETED":
            self._gone(pod["metadata"]["uid"])
        else:
            self._sync(pod)
        self.world.pod_event(kind, pod)

    def _sync(self, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if self._stop.is_set():
                return
            worker = self.workers.get(uid)
            if worker:
                worker.update(pod)
                return
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):  # finished before this node (re)started
                if pod["metadata"].get("deletionTimestamp"):
                    self.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], uid)
                return
            ip = self.address if pod["spec"].get("hostNetwork") else self._allocate_ip(pod)
            worker = self.workers[uid] = PodWorker(self, pod, ip)
        worker.start()

    def _gone(self, uid: str) -> None:
        with self._lock:
            worker = self.workers.pop(uid, None)
        if worker:
            worker.stop()
            with self._lock:
                self._in_use.discard(worker.ip)

    def _allocate_ip(self, pod: dict) -> str:
        """A random free address of the pod CIDR whose container ports no other process of this
        machine (another sandbox's node) holds."""
        ports = {p["containerPort"] for c in pod["spec"].get("containers") or [] for p in c.get("ports") or []
                 if p.get("containerPort")}
        size = self._network.num_addresses
        for _ in range(1000):
            ip = str(self._network[random.randrange(2, size - 1)])
            if ip in self._in_use or ip.endswith((".0", ".1", ".255")) or not _bindable(ip, ports, self.world):
                continue
            self._in_use.add(ip)
            return ip
        raise NodeError(f"no free pod IP in {self._network}")

    def find(self, namespace: str, name: str) -> PodWorker | None:
        with self._lock:
            for worker in self.workers.values():
                if worker.namespace == namespace and worker.name == name:
                    return worker
        return None

    def mark_bootstrapped(self) -> None:
        self.world.mark_bootstrapped()

    # ---- calls the pods make --------------------------------------------------------------------
    def process_for(self, container, argv: list[str], env: dict[str, str]):
        """What runs for this start of `container`: a Choerodon service's behaviour, a fault's exit,
        or the command as a child process."""
        special = choerodon.process_for(self.world, container, env)
        if special is not None:
            return special
        return Process(argv, env, container.pod.workdir(container.name),
                       container.pod.log_path(container.name, container.restart_count),
                       stdin=bool(container.spec.get("stdin")))

    def can_pull(self, container) -> bool:
        return images.known(container.image, self.world.config.plan) and not choerodon.pull_refused(self.world,
                                                                                                   container)

    def service_env(self) -> dict[str, str]:
        return dict(self._service_env)

    def read(self, kind: str, namespace: str, name: str) -> dict:
        method = {"configmap": self.core.read_namespaced_config_map, "secret": self.core.read_namespaced_secret}[kind]
        return json.loads(method(name, namespace, _preload_content=False).data)

    def patch_pod_status(self, namespace: str, name: str, uid: str, status: dict) -> None:
        """The uid in the patch is a precondition, as in the kubelet's: a new pod of the same name
        (a StatefulSet's) is never given the old one's status."""
        self.core.patch_namespaced_pod_status(name, namespace, {"metadata": {"uid": uid}, "status": status},
                                              _content_type=MERGE, _preload_content=False)

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        try:
            self.core.delete_namespaced_pod(name, namespace, body={"gracePeriodSeconds": 0,
                                                                   "preconditions": {"uid": uid}},
                                            _preload_content=False)
        except ApiException as exc:
            if exc.status not in (404, 409):
                self.log(f"node: deleting {namespace}/{name}: {exc.status} {exc.reason}")

    def event(self, pod: PodWorker, reason: str, message: str, kind: str, container=None) -> None:
        """An Event as the kubelet emits it; a repeat of the same one counts up (as the kubelet's
        event recorder aggregates)."""
        involved = {"apiVersion": "v1", "kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid}
        if container is not None:
            section = "initContainers" if container.init else "containers"
            involved["fieldPath"] = f"spec.{section}{{{container.name}}}"
        key = (pod.uid, involved.get("fieldPath"), reason, message)
        stamp = now_iso()
        try:
            with self._lock:
                known = self._events.get(key)
            if known:
                name, count = known
                self.core.patch_namespaced_event(name, pod.namespace, {"count": count + 1, "lastTimestamp": stamp},
                                                 _content_type=MERGE, _preload_content=False)
                with self._lock:
                    self._events[key] = (name, count + 1)
                return
            name = f"{pod.name}.{uuid.uuid4().hex[:16]}"
            self.core.create_namespaced_event(pod.namespace, {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": pod.namespace},
                "involvedObject": involved, "reason": reason, "message": message, "type": kind, "count": 1,
                "firstTimestamp": stamp, "lastTimestamp": stamp, "source": {"component": "kubelet", "host": self.name},
                "reportingComponent": "kubelet", "reportingInstance": self.name}, _preload_content=False)
            with self._lock:
                self._events[key] = (name, 1)
        except ApiException as exc:
            if exc.status != 404 and "being terminated" not in str(exc.body):  # the namespace is going away
                self.log(f"node: event {reason} for {pod.namespace}/{pod.name}: {exc.status} {exc.reason}")


