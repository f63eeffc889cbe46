"""The node as kube-proxy: for each Service with a selector and a loopback clusterIP (the control
plane's service range is 127.96.0.0/16), a TCP listener at clusterIP:port forwarding to a Ready pod
whose labels match, at its targetPort (runtime/services.py's ServiceProxy; Endpoints cannot hold
loopback pod IPs, so the node picks the pods itself). Without root a port below 1024 is moved 8000
higher in the Service (the emulator's rule: front's 80 is served on 8080)."""
from __future__ import annotations

import threading

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from ..runtime.pods import UNPRIVILEGED_OFFSET
from ..runtime.services import ServiceProxy
from .watch import start_thread, watch

MERGE = "application/merge-patch+json"


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
