"""The sandbox's controller: it makes the objects in the store live.

- Deployment -> Pods (ReplicaSet-style names ``<deploy>-<hash>-<rand5>``), each on its own
  loopback IP from 127.20.0.0/16 with one HTTP listener per containerPort; rolling update
  (new pods first, old ones deleted once the new ones are Ready); Deployment status kept.
- A readiness loop asks :mod:`behaviours` for each pod's health (in-process) and writes the
  Ready condition on change, with Events (Started / Unhealthy / Killing).
- Service -> a TCP listener at ``clusterIP:port`` forwarding to a Ready pod (like kube-proxy).
- Job -> completed shortly after creation (hook Jobs finish).
- Faults from ``D/faults.json`` (re-read when it changes): never-up, slow-start, wrong-version,
  flap, db-down (helm-fail and leftover-jobs are handled by helm_cli and the launcher).

Everything listens on 127.0.0.0/8 only and stops with :meth:`Runtime.stop`.
"""
from __future__ import annotations

import collections
import copy
import errno
import hashlib
import heapq
import itertools
import json
import logging
import os
import queue
import random
import socket
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional

from . import behaviours
from . import faults as faults_mod
from .release_watch import ReleaseWatch
from .tcp import close_hard, splice

log = logging.getLogger("c7n_upgrade.sandbox.runtime")

LABEL_RELEASE = "choerodon.io/release"
LABEL_SERVICE = "choerodon.io/service"
LABEL_VERSION = "choerodon.io/version"
LABEL_METRICS = "choerodon.io/metrics-port"
POD_IP_PREFIX = "127.20"
UNPRIVILEGED_OFFSET = 8000  # not root: port 80 is served on 8080


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def can_bind_privileged() -> bool:
    """Whether this process may bind ports below 1024 (root, CAP_NET_BIND_SERVICE, or a lowered
    net.ipv4.ip_unprivileged_port_start); found out by trying, on a loopback address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((f"127.{random.randrange(1, 255)}.{random.randrange(0, 256)}.{random.randrange(2, 255)}", 1000))
        return True
    except PermissionError:
        return False
    except OSError:  # in use or similar: the permission itself was granted
        return True
    finally:
        s.close()


def _plural(resource: str) -> str:
    return resource.split(".", 1)[0]


def template_hash(template: dict) -> str:
    """A stable 10-character hash of a pod template (like pod-template-hash)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # the apimachinery "safe" alphabet
    n = int(digest[:16], 16)
    out = []
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def _rand5() -> str:
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


@dataclass
class PodInfo:
    """What the runtime knows about one pod it runs."""
    namespace: str
    name: str
    ip: str
    labels: dict
    env: dict
    ports: list            # container ports, first = main port
    metrics_port: Optional[int]
    version: str           # the chart version the pod really runs (the template's label)
    deployment: tuple      # (namespace, name)
    template_hash: str
    after_bootstrap: bool
    spec: dict
    created_at: float = field(default_factory=time.monotonic)
    started_at: Optional[float] = None
    ready: bool = False
    deleted: bool = False
    status: dict = field(default_factory=dict)
    servers: list = field(default_factory=list)   # [(container_port, ThreadingHTTPServer)]
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))
    last_health: Optional[dict] = None
    unhealthy_reported: bool = False

    @property
    def key(self) -> tuple:
        return (self.namespace, self.name)

    @property
    def service(self) -> str:
        return self.labels.get(LABEL_SERVICE, "")

    @property
    def release(self) -> str:
        return self.labels.get(LABEL_RELEASE, "")


# ------------------------------------------------------------------------------ pod HTTP

class _PodServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # never share an address another listener still holds
    request_queue_size = 64


class _PodHandler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # keep-alive answers otherwise wait for the delayed ACK
    server_version = "sandbox-pod"
    sys_version = ""

    def _handle(self):
        runtime, pod, port = self.server.c7n  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, payload = behaviours.serve(runtime, pod, port, self.command, self.path,
                                                        dict(self.headers.items()), body)
        except Exception as exc:  # a bug in a behaviour must answer 500, not kill the listener
            log.exception("pod %s: %s %s failed", pod.name, self.command, self.path)
            status, headers, payload = 500, {"Content-Type": "application/json"}, json.dumps(
                {"status": 500, "error": "Internal Server Error", "message": str(exc)}).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def log_message(self, fmt, *args):  # keep the terminal quiet
        pass


# ------------------------------------------------------------------------------ service proxy

class _ServiceProxy:
    """clusterIP:port -> a Ready pod's targetPort, at the TCP level (as kube-proxy does)."""

    def __init__(self, runtime: "Runtime", namespace: str, name: str, ip: str, port: int, target, selector: dict):
        self.runtime = runtime
        self.namespace, self.name = namespace, name
        self.ip, self.port, self.target, self.selector = ip, port, target, selector
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._conns: set = set()
        self._lock = threading.Lock()
        self._rr = itertools.count()

    def start(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.ip, self.port))
        s.listen(64)
        self._sock = s
        self._thread = threading.Thread(target=self._accept, name=f"svc-{self.name}-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        s, self._sock = self._sock, None
        if s is not None:
            close_hard(s)
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            close_hard(c)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)

    def _accept(self) -> None:
        sock = self._sock
        while sock is not None:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _backend(self) -> Optional[tuple[str, int]]:
        pods = self.runtime.ready_pods_matching(self.namespace, self.selector)
        if not pods:
            return None
        pod = pods[next(self._rr) % len(pods)]
        return pod.ip, self.runtime.bind_port(self.runtime.resolve_target_port(pod, self.target))

    def _pump(self, client: socket.socket) -> None:
        backend = self._backend()
        if backend is None:  # no endpoints: reject, as kube-proxy does
            client.close()
            return
        try:
            upstream = socket.create_connection(backend, timeout=3)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            self._conns.update((client, upstream))
        splice(client, upstream, self._lock, self._conns)


# ------------------------------------------------------------------------------ runtime

class Runtime:
    """Runs the simulated cluster's workloads for the objects in `store`.

    sandbox_dir: D (faults.json); plan: the Plan; namespace: the plan namespace.
    mysql_admin: {host, port, user, password} of the MariaDB server (None: no MySQL, the gateway
    keeps OAuth clients and devops check logs in memory). mysql_proxy: the TcpProxy clients use
    (db-down makes it refuse). release_names: {default: actual}.
    """

    def __init__(self, store, sandbox_dir, plan, namespace: str, *,
                 mysql_admin: Optional[dict] = None, mysql_proxy=None,
                 admin_password: str = "", oauth_client_id: str = "client", oauth_client_secret: str = "",
                 release_names: Optional[dict] = None, start_delay: tuple[float, float] = (0.3, 0.8),
                 readiness_interval: float = 0.15, job_delay: float = 0.3,
                 privileged_ports: Optional[bool] = None, bootstrapped: bool = False,
                 xwiki_operator: Optional[Callable[[], Any]] = None, xwiki_after_step: int = 10):
        self.store = store
        self.sandbox_dir = Path(sandbox_dir) if sandbox_dir is not None else None
        self.plan = plan
        self.namespace = namespace
        self.mysql_admin = mysql_admin
        self.mysql_proxy = mysql_proxy
        self.admin_password = admin_password
        self.oauth_client_id = oauth_client_id
        self.oauth_client_secret = oauth_client_secret
        self.release_names = dict(release_names or {})
        self.start_delay = start_delay
        self.readiness_interval = readiness_interval
        self.job_delay = job_delay
        self.privileged = can_bind_privileged() if privileged_ports is None else privileged_ports
        self.bootstrapped = bootstrapped
        self.xwiki_operator = xwiki_operator
        self.xwiki_after_step = xwiki_after_step
        self.xwiki_done = False
        # state shared with behaviours
        self.tokens: dict[str, float] = {}
        self.memory_clients: dict[str, dict] = {}
        self.devops_check_logs: list[dict] = []
        # internals
        self._lock = threading.RLock()
        self._pods: dict[tuple, PodInfo] = {}
        self._dep_state: dict[tuple, dict] = {}
        self._dep_status_written: dict[tuple, dict] = {}
        self._proxies: dict[tuple, list[_ServiceProxy]] = {}
        self._proxy_sig: dict[tuple, Any] = {}
        self._ips_in_use: set[str] = set()
        self._ip_counter = random.randrange(0, 250 * 256)
        self._events: "queue.Queue[tuple]" = queue.Queue()
        self._timers: list = []
        self._timer_seq = itertools.count()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._faults: dict[str, faults_mod.Fault] = {}
        self._faults_mtime: Optional[float] = None
        self._releases = ReleaseWatch(armed=bootstrapped)
        self._proxy_refusing = False
        self._last_xwiki_check = 0.0
        self._default_by_chart = {s.chart: s.release for s in (plan.steps if plan is not None else [])}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Runtime":
        self._reload_faults(force=True)
        self.store.subscribe(self._on_store_event)
        # adopt what is already in the store
        for resource in ("services", "deployments.apps", "jobs.batch"):
            try:
                for obj in self.store.list(resource):
                    self._events.put(("ADDED", resource, obj))
            except Exception:
                pass
        for target, name in ((self._controller_loop, "runtime-controller"), (self._readiness_loop, "runtime-readiness")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop every listener (pods and services) and the loops. Safe to call twice."""
        self._stop.set()
        unsubscribe = getattr(self.store, "unsubscribe", None)
        if unsubscribe:
            unsubscribe(self._on_store_event)
        for t in self._threads:
            t.join(5)
        self._threads = []
        with self._lock:
            pods = list(self._pods.values())
            proxies = [p for ps in self._proxies.values() for p in ps]
            self._proxies.clear()
        closers = [threading.Thread(target=self._close_servers, args=(p,), daemon=True) for p in pods]
        closers += [threading.Thread(target=p.stop, daemon=True) for p in proxies]
        for t in closers:
            t.start()
        for t in closers:
            t.join(5)
        if self.mysql_proxy is not None and self._proxy_refusing:
            try:
                self.mysql_proxy.refuse(False)
            except Exception:
                pass

    def mark_bootstrapped(self) -> None:
        """From now on pods belong to the upgrade: faults for "new" pods apply, and a new release
        revision in the release storage means that release's upgrade/install began."""
        self.bootstrapped = True
        self._releases.arm()

    # ------------------------------------------------------------------ world API (behaviours)
    def ready_pods(self, chart: Optional[str], namespace: Optional[str] = None) -> list[PodInfo]:
        ns = namespace or self.namespace
        with self._lock:
            return [p for p in self._pods.values()
                    if p.ready and not p.deleted and p.namespace == ns and (chart is None or p.service == chart)]

    def ready_pods_matching(self, namespace: str, selector: dict) -> list[PodInfo]:
        with self._lock:
            return [p for p in self._pods.values() if p.ready and not p.deleted and p.namespace == namespace
                    and all(p.labels.get(k) == v for k, v in (selector or {}).items())]

    def crd_exists(self, name: str) -> bool:
        try:
            self.store.get("customresourcedefinitions.apiextensions.k8s.io", None, name)
            return True
        except Exception:
            return False

    def _aliases(self, release: str, chart: str = "") -> list[str]:
        names = [release]
        inverse = {v: k for k, v in self.release_names.items()}
        if release in inverse:
            names.append(inverse[release])
        if chart and chart in self._default_by_chart:
            names.append(self._default_by_chart[chart])
        if release in self.release_names:
            names.append(self.release_names[release])
        return list(dict.fromkeys(n for n in names if n))

    def pod_fault(self, pod: PodInfo) -> Optional[faults_mod.Fault]:
        return self.fault_for_release(pod.release, pod.service)

    def fault_for_release(self, release: str, chart: str = "") -> Optional[faults_mod.Fault]:
        return faults_mod.fault_for(self._faults, *self._aliases(release, chart))

    def upgrading(self, pod: PodInfo) -> bool:
        """A helm upgrade/install of the pod's release has begun since the bootstrap."""
        return self._releases.upgrading(*self._aliases(pod.release, pod.service))

    def log(self, pod: PodInfo, line: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        pod.log.append(f"{stamp} {line}")

    def pod_log(self, namespace: str, name: str, tail: Optional[int] = None) -> Optional[str]:
        """The pod's log (None when the runtime does not know the pod); for ApiServer's log_provider."""
        with self._lock:
            pod = self._pods.get((namespace, name))
            lines = list(pod.log) if pod else None
        if lines is None:
            return None
        if tail is not None and int(tail) >= 0:
            lines = lines[-int(tail):] if int(tail) else []
        return "".join(line + "\n" for line in lines)

    def pods(self) -> list[PodInfo]:
        with self._lock:
            return list(self._pods.values())

    def all_ready(self, namespace: Optional[str] = None) -> bool:
        """Every Deployment in the namespace has all its replicas Ready and no pod left over."""
        ns = namespace or self.namespace
        deps = self.store.list("deployments.apps", ns)
        with self._lock:
            for dep in deps:
                key = (ns, dep["metadata"]["name"])
                h = template_hash(dep["spec"]["template"])
                pods = [p for p in self._pods.values() if p.deployment == key and not p.deleted]
                want = int(dep["spec"].get("replicas", 1) or 0)
                if len(pods) != want or not all(p.ready and p.template_hash == h for p in pods):
                    return False
        return True

    # ------------------------------------------------------------------ ports
    def bind_port(self, port: int) -> int:
        """The port a listener really binds: ports below 1024 move up by 8000 when not root."""
        port = int(port)
        return port if self.privileged or port >= 1024 else port + UNPRIVILEGED_OFFSET

    @staticmethod
    def resolve_target_port(pod: PodInfo, target) -> int:
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            return int(target)
        for c in pod.spec.get("containers", []):
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return int(p["containerPort"])
        return pod.ports[0] if pod.ports else 0

    # ------------------------------------------------------------------ store events
    def _on_store_event(self, event_type: str, resource: str, obj: dict) -> None:
        self._releases.on_store_event(event_type, resource, obj)
        if not self._stop.is_set():
            self._events.put((event_type, resource, obj))

    def _after(self, delay: float, fn: Callable, *args) -> None:
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), fn, args))
        self._events.put(("TICK", "", {}))

    def _controller_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                wait = (self._timers[0][0] - time.monotonic()) if self._timers else 0.5
            try:
                event = self._events.get(timeout=max(0.0, min(wait, 0.5)))
            except queue.Empty:
                event = None
            if self._stop.is_set():
                return
            if event is not None:
                try:
                    self._handle(*event)
                except Exception:
                    log.exception("runtime: handling %s %s failed", event[0], event[1])
            while True:
                with self._lock:
                    if not self._timers or self._timers[0][0] > time.monotonic():
                        break
                    _, _, fn, args = heapq.heappop(self._timers)
                try:
                    fn(*args)
                except Exception:
                    log.exception("runtime: timer %s failed", getattr(fn, "__name__", fn))

    def _handle(self, event_type: str, resource: str, obj: dict) -> None:
        if event_type == "TICK":
            return
        if event_type == "RECONCILE":
            self._reconcile_deployment(*obj["key"])
            return
        plural = _plural(resource)
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if plural == "deployments":
            if event_type == "DELETED":
                self._delete_deployment_pods((ns, name))
            else:
                self._reconcile_deployment(ns, name)
        elif plural == "pods" and event_type == "DELETED":
            with self._lock:
                pod = self._pods.pop((ns, name), None)
            if pod is not None:
                self._retire_pod(pod)
                self._reconcile_deployment(*pod.deployment)
        elif plural == "services":
            if event_type == "DELETED":
                self._stop_proxies((ns, name))
            else:
                self._ensure_service(obj)
        elif plural == "jobs" and event_type == "ADDED":
            status = obj.get("status") or {}
            if not (status.get("succeeded") or status.get("failed")):
                self._after(self.job_delay, self._complete_job, ns, name)

    # ------------------------------------------------------------------ deployments
    def _reconcile_deployment(self, ns: str, name: str) -> None:
        try:
            dep = self.store.get("deployments.apps", ns, name)
        except Exception:
            return
        spec = dep.get("spec") or {}
        template = spec.get("template") or {}
        h = template_hash(template)
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        version = ((template.get("metadata") or {}).get("labels") or {}).get(LABEL_VERSION, "")
        key = (ns, name)
        with self._lock:
            state = self._dep_state.get(key)
            if state is None:
                state = {"hash": h, "version": version, "prev_version": None}
                self._dep_state[key] = state
            elif state["hash"] != h:
                if state["version"] != version:
                    state["prev_version"] = state["version"]
                state.update(hash=h, version=version)
                log.info("deployment %s/%s: pod template changed (version %s), rolling", ns, name, version)
            pods = [p for p in self._pods.values() if p.deployment == key and not p.deleted]
        new = [p for p in pods if p.template_hash == h]
        old = [p for p in pods if p.template_hash != h]
        for _ in range(replicas - len(new)):
            new.append(self._create_pod(dep, h, state))
        if len(new) > replicas:
            extra = sorted(new, key=lambda p: (p.ready, p.created_at))[: len(new) - replicas]
            for p in extra:
                self._delete_pod(p, "scaled down")
            new = [p for p in new if p not in extra]
        new_ready = sum(1 for p in new if p.ready)
        keep_old = max(0, replicas - new_ready)
        if len(old) > keep_old:
            doomed = sorted(old, key=lambda p: (p.ready, p.created_at))[: len(old) - keep_old]
            for p in doomed:
                self._delete_pod(p, "rolling update")
            old = [p for p in old if p not in doomed]
        self._write_deployment_status(dep, new + old, new)

    def _write_deployment_status(self, dep: dict, pods: list[PodInfo], new: list[PodInfo]) -> None:
        meta = dep["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        replicas = int(dep["spec"].get("replicas", 1) or 0)
        ready = sum(1 for p in pods if p.ready)
        new_ready = sum(1 for p in new if p.ready)
        available = ready >= replicas
        done = new_ready >= replicas and len(pods) == len(new)
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(new),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, len(pods) - ready),
        }
        sig = dict(status, available=available, done=done)
        with self._lock:
            if self._dep_status_written.get(key) == sig:
                return
            self._dep_status_written[key] = sig
        now = _now()
        rs = f"{meta['name']}-{template_hash(dep['spec']['template'])}"
        status["conditions"] = [
            {"type": "Available", "status": "True" if available else "False",
             "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if available
             else "Deployment does not have minimum availability.",
             "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": "True",
             "reason": "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
             "message": f'ReplicaSet "{rs}" has successfully progressed.' if done
             else f'ReplicaSet "{rs}" is progressing.',
             "lastUpdateTime": now, "lastTransitionTime": now},
        ]
        try:
            self.store.update_status("deployments.apps", key[0], key[1], status)
        except Exception:
            with self._lock:
                self._dep_status_written.pop(key, None)

    def _delete_deployment_pods(self, key: tuple) -> None:
        with self._lock:
            pods = [p for p in self._pods.values() if p.deployment == key]
            self._dep_state.pop(key, None)
            self._dep_status_written.pop(key, None)
        for p in pods:
            self._delete_pod(p, "deployment deleted")

    # ------------------------------------------------------------------ pods
    def _alloc_ip_and_bind(self, ports: list[int]) -> tuple[str, list]:
        """A fresh 127.20.x.y whose ports all bind; the sockets are bound (not listening) now."""
        for _ in range(2000):
            with self._lock:
                self._ip_counter = (self._ip_counter + 1) % (256 * 256)
                n = self._ip_counter
                if n % 256 in (0, 1, 255):
                    continue
                ip = f"{POD_IP_PREFIX}.{n // 256}.{n % 256}"
                if ip in self._ips_in_use:
                    continue
                self._ips_in_use.add(ip)
            servers = []
            try:
                for port in ports:
                    srv = _PodServer((ip, self.bind_port(port)), _PodHandler, bind_and_activate=False)
                    servers.append((port, srv))
                    srv.server_bind()
                return ip, servers
            except OSError:
                for _, srv in servers:
                    srv.server_close()
                with self._lock:
                    self._ips_in_use.discard(ip)
        raise RuntimeError("no free pod IP in 127.20.0.0/16")

    def _create_pod(self, dep: dict, h: str, state: dict) -> PodInfo:
        meta = dep["metadata"]
        ns, dep_name = meta.get("namespace", ""), meta["name"]
        template = copy.deepcopy(dep["spec"].get("template") or {})
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels["pod-template-hash"] = h
        pspec = template.get("spec") or {}
        pspec.setdefault("restartPolicy", "Always")
        pspec.setdefault("nodeName", "sandbox-node")
        containers = pspec.get("containers") or [{"name": dep_name}]
        first = containers[0]
        ports = [int(p["containerPort"]) for p in first.get("ports") or [] if p.get("containerPort")]
        env = {e.get("name"): e.get("value", "") for e in first.get("env") or [] if e.get("name")}
        true_version = labels.get(LABEL_VERSION, "")
        release = labels.get(LABEL_RELEASE, dep_name)
        start = faults_mod.PodStart(version_label=true_version, previous_version=state.get("prev_version"),
                                    start_delay=random.uniform(*self.start_delay))
        fault = self.fault_for_release(release, labels.get(LABEL_SERVICE, "")) if self.bootstrapped else None
        if fault is not None:
            fault.on_pod_create(start)
        labels[LABEL_VERSION] = start.version_label
        try:
            metrics = int(labels.get(LABEL_METRICS)) if labels.get(LABEL_METRICS) else None
        except ValueError:
            metrics = None
        ip, servers = self._alloc_ip_and_bind(ports)
        name = f"{dep_name}-{h}-{_rand5()}"
        pod = PodInfo(namespace=ns, name=name, ip=ip, labels=labels, env=env, ports=ports, metrics_port=metrics,
                      version=true_version, deployment=(ns, dep_name), template_hash=h,
                      after_bootstrap=self.bootstrapped, spec=pspec, servers=servers)
        now = _now()
        pod.status = {
            "phase": "Pending", "hostIP": "127.0.0.1", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
            "qosClass": "Burstable" if first.get("resources") else "BestEffort",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
                 "reason": "ContainersNotReady", "message": f"containers with unready status: [{first.get('name')}]"},
                {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
                 "reason": "ContainersNotReady", "message": f"containers with unready status: [{first.get('name')}]"},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
            ],
            "containerStatuses": [{
                "name": c.get("name", dep_name), "image": c.get("image", ""), "imageID": "",
                "ready": False, "restartCount": 0, "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {},
            } for c in containers],
        }
        obj = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "generateName": f"{dep_name}-{h}-", "labels": labels,
                         "annotations": dict(tmeta.get("annotations") or {})},
            "spec": pspec,
            "status": copy.deepcopy(pod.status),
        }
        with self._lock:
            self._pods[pod.key] = pod
        try:
            created = self.store.create("pods", obj, ns)
            pod.spec = created.get("spec", pspec)
            self.store.update_status("pods", ns, name, copy.deepcopy(pod.status))
        except Exception:
            log.exception("runtime: cannot create pod %s/%s", ns, name)
            with self._lock:
                self._pods.pop(pod.key, None)
            self._close_servers(pod)
            raise
        self._event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to sandbox-node", component="default-scheduler")
        delay = start.start_delay
        self.log(pod, f"INFO  pod {name} scheduled on sandbox-node, IP {ip}; starting in {delay:.1f}s")
        log.info("pod %s/%s created (ip %s, version label %s, start in %.1fs)", ns, name, ip,
                 labels.get(LABEL_VERSION), delay)
        self._after(delay, self._start_pod, pod.key)
        return pod

    def _start_pod(self, key: tuple) -> None:
        with self._lock:
            pod = self._pods.get(key)
        if pod is None or pod.deleted or self._stop.is_set():
            return
        for port, srv in pod.servers:
            srv.c7n = (self, pod, port)  # type: ignore[attr-defined]
            srv.server_activate()
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                             name=f"pod-{pod.name}-{port}", daemon=True).start()
        pod.started_at = time.monotonic()
        now = _now()
        for cs in pod.status["containerStatuses"]:
            cs["state"] = {"running": {"startedAt": now}}
            cs["started"] = True
        pod.status["phase"] = "Running"
        self._write_pod_status(pod)
        image = pod.spec.get("containers", [{}])[0].get("image", "")
        self._event(pod, "Pulled", f'Container image "{image}" already present on machine')
        self._event(pod, "Started", f"Started container {pod.status['containerStatuses'][0]['name']}")
        app = "".join(part.capitalize() for part in pod.service.split("-")) + "Application"
        self.log(pod, f"INFO  [main] {app}: Starting {app} v{pod.version} on {pod.name} with PID 1")
        listening = ", ".join(f"{p}" + (f" (bound {self.bind_port(p)})" if self.bind_port(p) != p else "")
                              for p, _ in pod.servers)
        self.log(pod, f"INFO  [main] Tomcat started on port(s): {listening} (http) on {pod.ip}")
        self.log(pod, f"INFO  [main] {app}: Started {app} in {time.monotonic() - pod.created_at:.3f} seconds")

    def _write_pod_status(self, pod: PodInfo) -> None:
        try:
            self.store.update_status("pods", pod.namespace, pod.name, copy.deepcopy(pod.status))
        except Exception:
            pass  # deleted meanwhile

    def _delete_pod(self, pod: PodInfo, reason: str) -> None:
        with self._lock:
            if pod.deleted:
                return
            pod.deleted = True
        self._event(pod, "Killing", f"Stopping container {pod.spec.get('containers', [{}])[0].get('name', pod.name)}"
                    f" ({reason})")
        self.log(pod, f"INFO  [Thread-1] shutting down ({reason})")
        log.info("pod %s/%s deleted (%s)", pod.namespace, pod.name, reason)
        try:
            self.store.delete("pods", pod.namespace, pod.name)
        except Exception:
            pass
        # the DELETED event retires it; make sure even if the store did not send one
        self._after(0.0, self._retire_if_gone, pod)

    def _retire_if_gone(self, pod: PodInfo) -> None:
        with self._lock:
            if self._pods.get(pod.key) is pod:
                self._pods.pop(pod.key, None)
            else:
                return
        self._retire_pod(pod)

    def _retire_pod(self, pod: PodInfo) -> None:
        pod.deleted = True
        pod.ready = False
        threading.Thread(target=self._close_servers, args=(pod,), daemon=True).start()

    def _close_servers(self, pod: PodInfo) -> None:
        servers, pod.servers = pod.servers, []
        for _, srv in servers:
            if getattr(srv, "c7n", None) is not None:
                try:
                    srv.shutdown()
                except Exception:
                    pass
            srv.server_close()
        with self._lock:
            self._ips_in_use.discard(pod.ip)

    def _event(self, pod: PodInfo, reason: str, message: str, *, type_: str = "", component: str = "kubelet") -> None:
        now = _now()
        ev = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{pod.name}.{os.urandom(8).hex()}", "namespace": pod.namespace},
            "involvedObject": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "apiVersion": "v1",
                               "fieldPath": "spec.containers{%s}" % pod.spec.get("containers", [{}])[0].get("name", "")},
            "reason": reason, "message": message,
            "type": type_ or ("Warning" if reason in ("Unhealthy", "Failed", "BackOff") else "Normal"),
            "source": {"component": component, "host": "sandbox-node"} if component == "kubelet" else {"component": component},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.store.create("events", ev, pod.namespace)
        except Exception:
            pass

    # ------------------------------------------------------------------ readiness
    def _readiness_loop(self) -> None:
        while not self._stop.wait(self.readiness_interval):
            try:
                self._reload_faults()
                self._update_mysql_gate()
                self._probe_all()
                self._maybe_xwiki()
            except Exception:
                log.exception("runtime: readiness loop")

    def _probe_all(self) -> None:
        with self._lock:
            pods = [p for p in self._pods.values() if p.started_at is not None and not p.deleted]
        changed_deps = set()
        for pod in pods:
            code, body = behaviours.health(self, pod)
            pod.last_health = body
            ready = code == 200
            if ready == pod.ready:
                continue
            pod.ready = ready
            now = _now()
            for cond in pod.status["conditions"]:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond["status"] = "True" if ready else "False"
                    cond["lastTransitionTime"] = now
                    if ready:
                        cond.pop("reason", None)
                        cond.pop("message", None)
                    else:
                        cond["reason"] = "ContainersNotReady"
                        cond["message"] = f"containers with unready status: [{pod.status['containerStatuses'][0]['name']}]"
            pod.status["containerStatuses"][0]["ready"] = ready
            self._write_pod_status(pod)
            if ready:
                self.log(pod, f"INFO  health UP on port {pod.metrics_port}; pod Ready")
                log.info("pod %s/%s Ready", pod.namespace, pod.name)
            else:
                failing = sorted(k for k, v in body.items() if isinstance(v, dict) and v.get("status") != "UP")
                self.log(pod, f"WARN  health DOWN ({', '.join(failing) or 'status'}); pod not Ready")
                self._event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
                log.info("pod %s/%s not Ready (%s)", pod.namespace, pod.name, ", ".join(failing))
            changed_deps.add(pod.deployment)
        # first DOWN answer of a fresh pod: report it once, as the kubelet would
        for pod in pods:
            if not pod.ready and not pod.unhealthy_reported and pod.last_health is not None:
                pod.unhealthy_reported = True
                failing = sorted(k for k, v in pod.last_health.items() if isinstance(v, dict) and v.get("status") != "UP")
                self.log(pod, f"WARN  health DOWN ({', '.join(failing) or 'status'})")
                self._event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
            elif pod.ready:
                pod.unhealthy_reported = True
        for key in changed_deps:
            self._events.put(("RECONCILE", "", {"key": key}))

    # ------------------------------------------------------------------ faults
    def _reload_faults(self, force: bool = False) -> None:
        if self.sandbox_dir is None:
            return
        path = self.sandbox_dir / faults_mod.FAULTS_FILE
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if not force and mtime == self._faults_mtime:
            return
        self._faults_mtime = mtime
        try:
            new = faults_mod.load_faults(self.sandbox_dir)
        except Exception as exc:
            log.warning("runtime: cannot read faults: %s", exc)
            return
        if new != self._faults:
            log.info("runtime: faults now %s", {k: str(v) for k, v in new.items()})
        self._faults = new

    def _update_mysql_gate(self) -> None:
        """The MySQL proxy refuses connections while a fault says so (db-down)."""
        refuse = any(fault.refuses_mysql(self._releases.upgrading(*self._aliases(release)))
                     for release, fault in self._faults.items())
        if self.mysql_proxy is not None and refuse != self._proxy_refusing:
            try:
                self.mysql_proxy.refuse(refuse)
                self._proxy_refusing = refuse
                log.info("runtime: MySQL proxy %s", "refuses connections (db-down)" if refuse else "accepts connections")
            except Exception:
                log.exception("runtime: MySQL proxy refuse(%s)", refuse)

    # ------------------------------------------------------------------ xwiki operator
    def _maybe_xwiki(self) -> None:
        if self.xwiki_operator is None or self.xwiki_done or self.plan is None:
            return
        now = time.monotonic()
        if now - self._last_xwiki_check < 1.0:
            return
        self._last_xwiki_check = now
        # the guide: XWiki 0.9.0 needs the 0.9.0 framework, i.e. steps 1-10 done
        before = [s for s in self.plan.steps if s.number <= self.xwiki_after_step and "xwiki" not in s.special]
        with self._lock:
            pods = [p for p in self._pods.values() if p.namespace == self.namespace and not p.deleted]
        for step in before:
            mine = [p for p in pods if p.service == step.chart]
            if not mine or not all(p.version == step.version for p in mine):
                return
        self.xwiki_done = True
        log.info("runtime: steps 1-%d are at their target versions; the simulated operator "
                 "applies the XWiki manual steps", self.xwiki_after_step)
        threading.Thread(target=self._run_xwiki, name="xwiki-operator", daemon=True).start()

    def _run_xwiki(self) -> None:
        try:
            self.xwiki_operator()
        except Exception:
            log.exception("runtime: XWiki operator failed")

    # ------------------------------------------------------------------ jobs
    def _complete_job(self, ns: str, name: str) -> None:
        try:
            job = self.store.get("jobs.batch", ns, name)
        except Exception:
            return
        status = job.get("status") or {}
        if status.get("succeeded") or status.get("failed"):
            return
        now = _now()
        status.update({"startTime": status.get("startTime") or now, "completionTime": now, "succeeded": 1,
                       "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": now,
                                       "lastTransitionTime": now}]})
        try:
            self.store.update_status("jobs.batch", ns, name, status)
            log.info("job %s/%s completed", ns, name)
        except Exception:
            pass

    # ------------------------------------------------------------------ services
    def _ensure_service(self, svc: dict) -> None:
        meta = svc.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or not ip.startswith("127."):
            return
        ports = spec.get("ports") or []
        if not self.privileged and any(int(p.get("port", 0)) < 1024 for p in ports):
            new_ports = []
            for p in ports:
                p = dict(p)
                port = int(p.get("port", 0))
                if port < 1024:
                    p.setdefault("targetPort", port)
                    p["port"] = port + UNPRIVILEGED_OFFSET
                    log.warning("not root: service %s/%s port %d served on %d", ns, name, port, p["port"])
                new_ports.append(p)
            try:
                self.store.patch("services", ns, name, {"spec": {"ports": new_ports}}, "merge")
            except Exception:
                log.exception("runtime: cannot move service %s/%s to unprivileged ports", ns, name)
            return  # the MODIFIED event brings us back with the new ports
        sig = (ip, tuple((int(p.get("port", 0)), str(p.get("targetPort", p.get("port")))) for p in ports),
               tuple(sorted((spec.get("selector") or {}).items())))
        key = (ns, name)
        if self._proxy_sig.get(key) == sig:
            return
        self._stop_proxies(key)
        started = []
        for p in ports:
            if (p.get("protocol") or "TCP") != "TCP":
                continue
            target = p.get("targetPort", p.get("port"))
            proxy = _ServiceProxy(self, ns, name, ip, int(p["port"]), target, spec.get("selector") or {})
            try:
                proxy.start()
                started.append(proxy)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE and self._relocate_service(ns, name, ip, ports):
                    for other in started:
                        other.stop()
                    return  # the MODIFIED event brings us back with the new clusterIP
                log.error("service %s/%s: cannot listen on %s:%s: %s", ns, name, ip, p["port"], exc)
        with self._lock:
            self._proxies[key] = started
            self._proxy_sig[key] = sig
        log.info("service %s/%s listening on %s", ns, name, ", ".join(f"{ip}:{p.port}" for p in started))

    def _relocate_service(self, ns: str, name: str, ip: str, ports: list) -> bool:
        """clusterIP:port is taken by another process (e.g. a second sandbox on this machine):
        move the Service to a free 127.10.x.y before anyone relies on it."""
        taken = {((s.get("spec") or {}).get("clusterIP")) for s in self.store.list("services")}
        for _ in range(200):
            n = random.randrange(2, 256 * 256 - 1)
            if n % 256 in (0, 255):
                continue
            candidate = f"127.10.{n // 256}.{n % 256}"
            if candidate in taken:
                continue
            probes = []
            try:
                for p in ports:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    probes.append(s)
                    s.bind((candidate, int(p["port"])))
            except OSError:
                continue
            finally:
                for s in probes:
                    s.close()
            try:
                self.store.patch("services", ns, name, {"spec": {"clusterIP": candidate}}, "merge")
            except Exception:
                log.exception("runtime: cannot move service %s/%s to %s", ns, name, candidate)
                return False
            log.warning("service %s/%s: %s is taken by another process on this machine; clusterIP moved to %s",
                        ns, name, ip, candidate)
            return True
        return False

    def _stop_proxies(self, key: tuple) -> None:
        with self._lock:
            proxies = self._proxies.pop(key, [])
            self._proxy_sig.pop(key, None)
        for p in proxies:
            p.stop()
