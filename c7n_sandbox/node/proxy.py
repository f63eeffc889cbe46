"""The node as kube-proxy: for each Service with a selector and a loopback clusterIP (the control
plane's service range is 127.96.0.0/16), a TCP listener at clusterIP:port forwarding to a Ready pod
whose labels match, at its targetPort (round robin; no Ready pod: the connection is refused).
Endpoints cannot hold loopback pod IPs, so the node picks the pods itself. Without root a port below
1024 is moved 8000 higher in the Service (front's 80 is served on 8080)."""
from __future__ import annotations

import itertools
import socket
import threading
from typing import Optional

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from ..tcp import accept_loop, close_hard, splice
from .listeners import UNPRIVILEGED_OFFSET
from .watch import start_thread, watch

MERGE = "application/merge-patch+json"


class ServiceProxy:
    """clusterIP:port -> a Ready pod's targetPort, at the TCP level (as kube-proxy does); `pods` gives
    ready_pods_matching, bind_port and resolve_target_port (node/world.py's NodeWorld)."""

    def __init__(self, pods, namespace: str, name: str, ip: str, port: int, target, selector: dict):
        self.pods = pods
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
        self._thread = threading.Thread(target=accept_loop, args=(s, self._pump), name=f"svc-{self.name}-{self.port}",
                                        daemon=True)
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

    def _backend(self) -> Optional[tuple[str, int]]:
        pods = self.pods.ready_pods_matching(self.namespace, self.selector)
        if not pods:
            return None
        pod = pods[next(self._rr) % len(pods)]
        return pod.ip, self.pods.bind_port(self.pods.resolve_target_port(pod, self.target))

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


class ServiceProxies:
    def __init__(self, node):
        self.node, self.world = node, node.world
        self._lock = threading.Lock()
        self._proxies: dict[str, tuple[tuple, list[ServiceProxy]]] = {}   # uid -> (signature, proxies)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.core = k8s.CoreV1Api(self.node.api)
        start_thread(lambda: watch(self.core.list_service_for_all_namespaces, self._listed, self._event,
                                   self.node._stop, self.node.log, "services"), "node services", self._threads)

    def stop(self) -> None:
        with self._lock:
            proxies = [p for _, ps in self._proxies.values() for p in ps]
            self._proxies.clear()
        for proxy in proxies:
            proxy.stop()
        for thread in self._threads:
            thread.join(2)

    def _listed(self, items: list[dict]) -> None:
        present = {svc["metadata"]["uid"] for svc in items}
        with self._lock:
            gone = [uid for uid in self._proxies if uid not in present]
        for uid in gone:
            self._remove(uid)
        for svc in items:
            self._ensure(svc)

    def _event(self, kind: str, svc: dict) -> None:
        if kind == "DELETED":
            self._remove(svc["metadata"]["uid"])
        else:
            self._ensure(svc)

    def _remove(self, uid: str) -> None:
        with self._lock:
            _, proxies = self._proxies.pop(uid, ((), []))
        for proxy in proxies:
            proxy.stop()

    def _ensure(self, svc: dict) -> None:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ip, selector = spec.get("clusterIP"), spec.get("selector") or {}
        ports = [p for p in spec.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP"]
        if not ip or ip == "None" or not ip.startswith("127.") or not selector:
            self._remove(meta["uid"])   # a selector removed: no longer proxied, as kube-proxy does
            return
        if not self.world.privileged and any(int(p["port"]) < 1024 for p in ports):
            self._unprivileged(meta, spec.get("ports") or [])
            return  # the MODIFIED event brings it back with the new ports
        signature = (ip, tuple((int(p["port"]), str(p.get("targetPort", p["port"]))) for p in ports),
                     tuple(sorted(selector.items())))
        with self._lock:
            known = self._proxies.get(meta["uid"])
        if known and known[0] == signature:
            return
        self._remove(meta["uid"])
        started = []
        for p in ports:
            proxy = ServiceProxy(self.world, meta["namespace"], meta["name"], ip, int(p["port"]),
                                 p.get("targetPort", p["port"]), selector)
            try:
                proxy.start()
                started.append(proxy)
            except OSError as exc:
                self.node.log(f"node: service {meta['namespace']}/{meta['name']}: cannot listen on "
                              f"{ip}:{p['port']}: {exc.strerror}")
        with self._lock:
            stopping = self.node._stop.is_set()   # stop() ran meanwhile (or runs now): keep none
            if not stopping:
                self._proxies[meta["uid"]] = (signature, started)
        for proxy in started if stopping else ():
            proxy.stop()

    def _unprivileged(self, meta: dict, ports: list) -> None:
        moved = []
        for p in ports:
            p = dict(p)
            if int(p["port"]) < 1024:
                p.setdefault("targetPort", p["port"])
                p["port"] = int(p["port"]) + UNPRIVILEGED_OFFSET
                self.node.log(f"node: not root: service {meta['namespace']}/{meta['name']} port "
                              f"{p['port'] - UNPRIVILEGED_OFFSET} served on {p['port']}")
            moved.append(p)
        try:
            self.core.patch_namespaced_service(meta["name"], meta["namespace"], {"spec": {"ports": moved}},
                                               _content_type=MERGE, _preload_content=False)
        except ApiException as exc:
            self.node.log(f"node: moving service {meta['namespace']}/{meta['name']}: {exc.status} {exc.reason}")
