"""The node's kube-proxy (sandbox/node/proxy.py) keeping its listeners in step with the Services,
with the listener replaced by a recorder (no sockets here)."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from c7n_upgrade.sandbox.node import proxy as proxy_module
from c7n_upgrade.sandbox.node.proxy import ServiceProxies


class _Listener:
    def __init__(self, world, namespace, name, ip, port, target, selector):
        self.where, self.running = (ip, port), False

    def start(self):
        self.running = True
        _Listener.all.append(self)

    def stop(self):
        self.running = False


@pytest.fixture
def proxies(monkeypatch):
    _Listener.all = []
    monkeypatch.setattr(proxy_module, "ServiceProxy", _Listener)
    node = SimpleNamespace(world=SimpleNamespace(privileged=True), _stop=threading.Event(), log=lambda line: None)
    return ServiceProxies(node)


def _svc(selector=None, ip="127.96.0.10", port=8030):
    return {"metadata": {"uid": "u1", "namespace": "ns", "name": "api"},
            "spec": {"clusterIP": ip, "selector": selector, "ports": [{"port": port, "targetPort": 8030}]}}


def _running():
    return [listener.where for listener in _Listener.all if listener.running]


def test_a_service_that_loses_its_selector_is_no_longer_proxied(proxies):
    proxies._event("ADDED", _svc({"app": "api"}))
    assert _running() == [("127.96.0.10", 8030)]
    proxies._event("MODIFIED", _svc(None))
    assert _running() == []


def test_a_service_seen_while_the_node_stops_leaves_no_listener(proxies):
    proxies.node._stop.set()     # Node.stop() sets this, then calls proxies.stop(), while the watch
    proxies.stop()               # thread may still be handling an event
    proxies._event("ADDED", _svc({"app": "api"}))
    assert _running() == [] and proxies._proxies == {}
