"""Services, as kube-proxy makes them work: a TCP listener at ``clusterIP:port`` forwarding each
connection to a Ready pod of the selector (round robin); no Ready pod, the connection is refused.
"""
from __future__ import annotations

import errno
import itertools
import logging
import random
import socket
import threading
from typing import Any, Optional

from ..tcp import accept_loop, close_hard, splice
from .pods import UNPRIVILEGED_OFFSET, Kubelet

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


class ServiceProxy:
    """clusterIP:port -> a Ready pod's targetPort, at the TCP level (as kube-proxy does)."""

    def __init__(self, kubelet: Kubelet, namespace: str, name: str, ip: str, port: int, target, selector: dict):
        self.kubelet = kubelet
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
        pods = self.kubelet.ready_pods_matching(self.namespace, self.selector)
        if not pods:
            return None
        pod = pods[next(self._rr) % len(pods)]
        return pod.ip, self.kubelet.bind_port(self.kubelet.resolve_target_port(pod, self.target))

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


class Services:
    """Keeps one ServiceProxy per Service port in step with the Service objects."""

    def __init__(self, store, kubelet: Kubelet):
        self.store, self.kubelet = store, kubelet
        self._lock = threading.Lock()
        self._proxies: dict[tuple, list[ServiceProxy]] = {}
        self._signature: dict[tuple, Any] = {}

    def ensure(self, svc: dict) -> None:
        meta = svc.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or not ip.startswith("127."):
            return
        ports = spec.get("ports") or []
        if not self.kubelet.privileged and any(int(p.get("port", 0)) < 1024 for p in ports):
            self._move_to_unprivileged_ports(ns, name, ports)
            return  # the MODIFIED event brings us back with the new ports
        sig = (ip, tuple((int(p.get("port", 0)), str(p.get("targetPort", p.get("port")))) for p in ports),
               tuple(sorted((spec.get("selector") or {}).items())))
        key = (ns, name)
        if self._signature.get(key) == sig:
            return
        self.deleted(key)
        started = []
        for p in ports:
            if (p.get("protocol") or "TCP") != "TCP":
                continue
            target = p.get("targetPort", p.get("port"))
            proxy = ServiceProxy(self.kubelet, ns, name, ip, int(p["port"]), target, spec.get("selector") or {})
            try:
                proxy.start()
                started.append(proxy)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE and self._relocate(ns, name, ip, ports):
                    for other in started:
                        other.stop()
                    return  # the MODIFIED event brings us back with the new clusterIP
                log.error("service %s/%s: cannot listen on %s:%s: %s", ns, name, ip, p["port"], exc)
        with self._lock:
            self._proxies[key] = started
            self._signature[key] = sig
        log.info("service %s/%s listening on %s", ns, name, ", ".join(f"{ip}:{p.port}" for p in started))

    def _move_to_unprivileged_ports(self, ns: str, name: str, ports: list) -> None:
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

    def _relocate(self, ns: str, name: str, ip: str, ports: list) -> bool:
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

    def deleted(self, key: tuple) -> None:
        with self._lock:
            proxies = self._proxies.pop(key, [])
            self._signature.pop(key, None)
        for p in proxies:
            p.stop()

    def stop(self) -> list[threading.Thread]:
        """Start stopping every proxy; returns the stopping threads to join."""
        with self._lock:
            proxies = [p for ps in self._proxies.values() for p in ps]
            self._proxies.clear()
        stoppers = [threading.Thread(target=p.stop, daemon=True) for p in proxies]
        for t in stoppers:
            t.start()
        return stoppers
