"""The sandbox's kubelet: each pod gets its own loopback IP (127.20.x.y) and one HTTP listener per
container port, answering through :mod:`c7n_upgrade.sandbox.behaviours`; it writes the pod's
status and Events to the store and keeps the pod's log.
"""
from __future__ import annotations

import collections
import copy
import json
import logging
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from .. import behaviours
from ..faults import Fault, PodStart
from . import events
from .events import now_rfc3339
from .loop import ControlLoop
from .workload import HASH_LABEL, REVISION_LABEL, owner_reference

log = logging.getLogger("c7n_upgrade.sandbox.runtime")  # bench/common.py reads the pod lines

LABEL_RELEASE = "choerodon.io/release"
LABEL_SERVICE = "choerodon.io/service"
LABEL_VERSION = "choerodon.io/version"
LABEL_METRICS = "choerodon.io/metrics-port"
POD_IP_PREFIX = "127.20"
UNPRIVILEGED_OFFSET = 8000  # not root: port 80 is served on 8080


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


def running_version(image: str, label: str) -> str:
    """The version a pod really runs: its image's tag when that is a version (an image pinned to 0.8.0
    runs 0.8.0 whatever the chart's label says), else the label."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return tag if re.fullmatch(r"\d+\.\d+\.\d+([.-][\w.]+)?", tag) else label


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
    version: str           # the version the pod really runs (its image's tag, else the template's label)
    owner: Optional[tuple]   # (kind, namespace, name) of its controller (ReplicaSet, ...); None: a bare pod
    revision: str          # the owner's template revision it runs (pod-template-hash / controller-revision-hash)
    after_bootstrap: bool
    spec: dict
    uid: str = ""
    created_at: float = field(default_factory=time.monotonic)
    started_at: Optional[float] = None
    ready: bool = False
    deleted: bool = False
    status: dict = field(default_factory=dict)
    servers: list = field(default_factory=list)   # [(container_port, ThreadingHTTPServer)]
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))
    log_count: int = 0     # lines ever logged (`logs -f` follows it)
    last_health: Optional[dict] = None
    unhealthy_reported: bool = False
    probe: bool = True     # readiness follows its health (a generic container has no probe)

    @property
    def key(self) -> tuple:
        return (self.namespace, self.name)

    @property
    def service(self) -> str:
        return self.labels.get(LABEL_SERVICE, "")

    @property
    def release(self) -> str:
        return self.labels.get(LABEL_RELEASE, "")

    @property
    def container_name(self) -> str:
        return self.spec.get("containers", [{}])[0].get("name", self.name)


class _PodServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # never share an address another listener still holds
    request_queue_size = 64


class _PodHandler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # keep-alive answers otherwise wait for the delayed ACK
    server_version = "sandbox-pod"
    sys_version = ""

    def _handle(self):
        world, pod, port = self.server.c7n  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, payload = behaviours.serve(world, pod, port, self.command, self.path,
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


class Kubelet:
    """Creates, starts, stops and deletes the pods; `world` is what their behaviours see."""

    def __init__(self, store, loop: ControlLoop, world: Any, *, privileged: bool,
                 start_delay: tuple[float, float]):
        self.store, self.loop, self.world = store, loop, world
        self.privileged = privileged
        self.start_delay = start_delay
        self._lock = threading.RLock()
        self._log_appended = threading.Condition(self._lock)
        self._pods: dict[tuple, PodInfo] = {}
        self._ips_in_use: set[str] = set()
        self._ip_counter = random.randrange(0, 250 * 256)
        self.broken = None   # runtime/broken.py: drives the pods a fault keeps from running

    # ------------------------------------------------------------------ queries
    def pods(self) -> list[PodInfo]:
        with self._lock:
            return list(self._pods.values())

    def live_pods(self, owner: Optional[tuple] = None) -> list[PodInfo]:
        """Pods not deleted, of one owner (kind, namespace, name) when given."""
        with self._lock:
            return [p for p in self._pods.values() if not p.deleted and (owner is None or p.owner == owner)]

    def pod(self, namespace: str, name: str) -> Optional[PodInfo]:
        with self._lock:
            return self._pods.get((namespace, name))

    def knows(self, namespace: str, name: str) -> bool:
        """The kubelet runs (or is creating) this pod."""
        return self.pod(namespace, name) is not None

    def track(self, pod: PodInfo) -> None:
        """Run a pod whose object exists already (barepods.py); its listeners are bound, not started."""
        with self._lock:
            self._pods[pod.key] = pod

    def ready_pods_matching(self, namespace: str, selector: dict) -> list[PodInfo]:
        with self._lock:
            return [p for p in self._pods.values() if p.ready and not p.deleted and p.namespace == namespace
                    and all(p.labels.get(k) == v for k, v in (selector or {}).items())]

    def pod_log(self, namespace: str, name: str, tail: Optional[int] = None) -> Optional[str]:
        """The pod's log (None when the runtime does not know the pod)."""
        with self._lock:
            pod = self._pods.get((namespace, name))
            lines = list(pod.log) if pod else None
        return None if lines is None else log_text(lines, tail)

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

    def follow_log(self, namespace: str, name: str, tail: Optional[int] = None, poll: float = 0.5):
        """`logs -f`: the log so far (or its tail), then each new line, until the pod is gone. Yields
        None while nothing new comes (the server checks then whether the client left); None when
        the runtime does not know the pod."""
        with self._lock:
            pod = self._pods.get((namespace, name))
            if pod is None:
                return None
            lines, seen = list(pod.log), pod.log_count
        if tail is not None and int(tail) >= 0:
            lines = lines[-int(tail):] if int(tail) else []

        def follow():
            nonlocal seen
            if lines:
                yield "".join(line + "\n" for line in lines).encode()
            while True:
                with self._log_appended:
                    if pod.log_count == seen and not pod.deleted:
                        self._log_appended.wait(poll)
                    fresh = min(pod.log_count - seen, len(pod.log))
                    new = list(pod.log)[len(pod.log) - fresh:] if fresh else []
                    seen, gone = pod.log_count, pod.deleted
                if new:
                    yield "".join(line + "\n" for line in new).encode()
                elif gone:
                    return
                else:
                    yield None
        return follow()

    # ------------------------------------------------------------------ logs and events
    def log(self, pod: PodInfo, line: str, stamped: bool = True) -> None:
        """Append a line to the pod's log (stamped: the kubelet's and services' lines; a container's
        own output as it wrote it)."""
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        with self._log_appended:
            pod.log.append(f"{stamp} {line}" if stamped else line)
            pod.log_count += 1
            self._log_appended.notify_all()

    def event(self, pod: PodInfo, reason: str, message: str, *, component: str = "kubelet") -> None:
        ref = {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid, "apiVersion": "v1"}
        if component == "kubelet":
            ref["fieldPath"] = "spec.containers{%s}" % pod.container_name
        events.record(self.store, ref, reason, message, component=component,
                      host=events.NODE if component == "kubelet" else None)

    def write_status(self, pod: PodInfo) -> None:
        try:
            self.store.update_status("pods", pod.namespace, pod.name, copy.deepcopy(pod.status))
        except Exception:
            pass  # deleted meanwhile

    # ------------------------------------------------------------------ create and start
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

    def create_pod(self, owner: dict, template: dict, *, name: Optional[str] = None, extra_labels: Optional[dict] = None,
                   spec_fields: Optional[dict] = None, previous_version: Optional[str] = None,
                   fault: Optional[Fault] = None, after_bootstrap: bool = False) -> PodInfo:
        """A pod of `owner`'s pod `template` (named `name`, else `<owner>-<rand5>`), owned by it;
        `fault` (the release's) may change how it starts."""
        meta = owner["metadata"]
        ns, owner_name = meta.get("namespace", ""), meta["name"]
        template = copy.deepcopy(template or {})
        tmeta = template.get("metadata") or {}
        labels = {**(tmeta.get("labels") or {}), **(extra_labels or {})}
        pspec = {**(template.get("spec") or {}), **(spec_fields or {})}
        pspec.setdefault("restartPolicy", "Always")
        containers = pspec.get("containers") or [{"name": owner_name}]
        first = containers[0]
        ports = [int(p["containerPort"]) for p in first.get("ports") or [] if p.get("containerPort")]
        env = {e.get("name"): e.get("value", "") for e in first.get("env") or [] if e.get("name")}
        label = labels.get(LABEL_VERSION, "")
        true_version = running_version(first.get("image", ""), label)  # the label stays the template's
        start = PodStart(version_label=label, previous_version=previous_version,
                         start_delay=random.uniform(*self.start_delay), owner_kind=owner.get("kind", ""))
        if fault is not None:
            fault.on_pod_create(start)
        failure = start.failure if self.broken is not None else None
        if failure is None or failure.how != "unschedulable":
            pspec.setdefault("nodeName", events.NODE)
        if LABEL_VERSION in labels:
            labels[LABEL_VERSION] = start.version_label
        try:
            metrics = int(labels.get(LABEL_METRICS)) if labels.get(LABEL_METRICS) else None
        except ValueError:
            metrics = None
        ip, servers = self._alloc_ip_and_bind(ports)
        generate_name = None if name else f"{owner_name}-"
        name = name or f"{owner_name}-{_rand5()}"
        revision = labels.get(HASH_LABEL) or labels.get(REVISION_LABEL, "")
        pod = PodInfo(namespace=ns, name=name, ip=ip, labels=labels, env=env, ports=ports, metrics_port=metrics,
                      version=true_version, owner=(owner["kind"], ns, owner_name), revision=revision,
                      after_bootstrap=after_bootstrap, spec=pspec, servers=servers)
        pod.status = _pending_status(ip, first, containers, owner_name)
        if "nodeName" not in pspec:
            pod.status = self.broken.unscheduled(pod.status, failure.message)
        obj = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "annotations": dict(tmeta.get("annotations") or {}),
                         "ownerReferences": [owner_reference(owner)]},
            "spec": pspec,
            "status": copy.deepcopy(pod.status),
        }
        if generate_name:
            obj["metadata"]["generateName"] = generate_name
        with self._lock:
            previous = self._pods.get(pod.key)
            self._pods[pod.key] = pod
        if previous is not None:   # a StatefulSet's pod of the same name, deleted just now
            self._retire(previous)
        try:
            created = self.store.create("pods", obj, ns)
            pod.spec, pod.uid = created.get("spec", pspec), created["metadata"]["uid"]
            self.store.update_status("pods", ns, name, copy.deepcopy(pod.status))
        except Exception:
            log.exception("runtime: cannot create pod %s/%s", ns, name)
            with self._lock:
                if self._pods.get(pod.key) is pod:
                    self._pods.pop(pod.key, None)
            self._close_servers(pod)
            raise
        if "nodeName" in pspec:
            self.event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {events.NODE}", component="default-scheduler")
        self.log(pod, f"INFO  pod {name} scheduled on {events.NODE}, IP {ip}; starting in {start.start_delay:.1f}s")
        log.info("pod %s/%s created (ip %s, version label %s, start in %.1fs)", ns, name, ip,
                 labels.get(LABEL_VERSION), start.start_delay)
        if failure is not None:
            self.broken.begin(pod, failure, start.start_delay)
        else:
            self.loop.after(start.start_delay, self._start_pod, pod.key, pod)
        return pod

    def _start_pod(self, key: tuple, created: PodInfo) -> None:
        with self._lock:
            pod = self._pods.get(key)
        if pod is not created or pod.deleted or self.loop.stopped.is_set():
            return
        for port, srv in pod.servers:
            srv.c7n = (self.world, pod, port)  # type: ignore[attr-defined]
            srv.server_activate()
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                             name=f"pod-{pod.name}-{port}", daemon=True).start()
        pod.started_at = time.monotonic()
        now = now_rfc3339()
        for cs in pod.status["containerStatuses"]:
            cs["state"] = {"running": {"startedAt": now}}
            cs["started"] = True
        pod.status["phase"] = "Running"
        self.write_status(pod)
        image = pod.spec.get("containers", [{}])[0].get("image", "")
        self.event(pod, "Pulled", f'Container image "{image}" already present on machine')
        self.event(pod, "Started", f"Started container {pod.status['containerStatuses'][0]['name']}")
        listening = ", ".join(f"{p}" + (f" (bound {self.bind_port(p)})" if self.bind_port(p) != p else "")
                              for p, _ in pod.servers)
        if not pod.service:   # a generic container (no Choerodon service)
            self.log(pod, f"INFO  container {pod.container_name} ({image}) started, listening on "
                          f"{listening or 'no port'} on {pod.ip}")
            return
        app = "".join(part.capitalize() for part in pod.service.split("-")) + "Application"
        self.log(pod, f"INFO  [main] {app}: Starting {app} v{pod.version} on {pod.name} with PID 1")
        self.log(pod, f"INFO  [main] Tomcat started on port(s): {listening} (http) on {pod.ip}")
        self.log(pod, f"INFO  [main] {app}: Started {app} in {time.monotonic() - pod.created_at:.3f} seconds")

    # ------------------------------------------------------------------ stop and delete
    def delete_pod(self, pod: PodInfo, reason: str) -> None:
        with self._lock:
            if pod.deleted:
                return
            pod.deleted = True
        self.event(pod, "Killing", f"Stopping container {pod.container_name} ({reason})")
        self.log(pod, f"INFO  [Thread-1] shutting down ({reason})")
        log.info("pod %s/%s deleted (%s)", pod.namespace, pod.name, reason)
        current = self.store.get_or_none("pods", pod.namespace, pod.name)
        if current is not None and current["metadata"].get("uid") == pod.uid:
            try:
                self.store.delete("pods", pod.namespace, pod.name)
            except Exception:
                pass
        # the DELETED event retires it; make sure even if the store did not send one
        self.loop.after(0.0, self._retire_if_gone, pod)

    def forget(self, namespace: str, name: str, uid: str) -> Optional[PodInfo]:
        """The pod object (`uid`) is gone from the store: stop its listeners; returns it when it was ours."""
        with self._lock:
            pod = self._pods.get((namespace, name))
            if pod is None or (pod.uid and pod.uid != uid):
                return None
            self._pods.pop((namespace, name), None)
        self._retire(pod)
        return pod

    def _retire_if_gone(self, pod: PodInfo) -> None:
        with self._lock:
            if self._pods.get(pod.key) is not pod:
                return
            self._pods.pop(pod.key, None)
        self._retire(pod)

    def _retire(self, pod: PodInfo) -> None:
        with self._log_appended:
            pod.deleted = True
            pod.ready = False
            self._log_appended.notify_all()   # `logs -f` of it ends
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

    def stop(self) -> list[threading.Thread]:
        """Start closing every pod's listeners; returns the closing threads to join."""
        closers = [threading.Thread(target=self._close_servers, args=(p,), daemon=True) for p in self.pods()]
        for t in closers:
            t.start()
        return closers


def log_text(lines: list, tail: Optional[int] = None) -> str:
    """Log lines as `logs` serves them: the last `tail` of them (all when None), one a line."""
    if tail is not None and int(tail) >= 0:
        lines = lines[-int(tail):] if int(tail) else []
    return "".join(line + "\n" for line in lines)


def _pending_status(ip: str, first: dict, containers: list, default_name: str) -> dict:
    now = now_rfc3339()
    unready = f"containers with unready status: [{first.get('name')}]"
    return {
        "phase": "Pending", "hostIP": "127.0.0.1", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
        "qosClass": "Burstable" if first.get("resources") else "BestEffort",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
            {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
             "reason": "ContainersNotReady", "message": unready},
            {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
             "reason": "ContainersNotReady", "message": unready},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
        ],
        "containerStatuses": [{
            "name": c.get("name", default_name), "image": c.get("image", ""), "imageID": "",
            "ready": False, "restartCount": 0, "started": False,
            "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {},
        } for c in containers],
    }
