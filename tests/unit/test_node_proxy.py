"""The node's kube-proxy (sandbox/node/proxy.py) keeping its listeners in step with the Services,
with the listener replaced by a recorder (no sockets here), a pod worker stopped before it started, and
the node refusing any address beyond loopback."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from c7n_sandbox.node import proxy as proxy_module
from c7n_sandbox.node.proxy import ServiceProxies


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


def test_a_pod_worker_stopped_before_its_thread_started_stops(tmp_path):
    """Node.stop() can reach a worker _sync registered but has not started yet: no RuntimeError
    (which cut Node.stop() short, leaving the kube-proxy and the kubelet API listening)."""
    from c7n_sandbox.node.pod import PodWorker
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    worker = PodWorker(SimpleNamespace(dir=tmp_path), pod, "127.77.0.9")
    worker.stop()
    worker.start()          # then started by _sync: its loop sees the stop and ends
    worker.thread.join(5)
    assert not worker.thread.is_alive()


@pytest.mark.parametrize("where", [{"address": "0.0.0.0"}, {"address": "10.0.0.5"}, {"pod_cidr": "10.244.0.0/16"},
                                   {"pod_cidr": "0.0.0.0/0"}])
def test_the_node_listens_only_on_loopback(tmp_path, where):
    from c7n_sandbox.node.kubelet import Node, NodeError
    with pytest.raises(NodeError, match="must be loopback"):
        Node(tmp_path / "kubeconfig", tmp_path, choerodon={"privileged_ports": False}, **where)
    Node(tmp_path / "kubeconfig", tmp_path, choerodon={"privileged_ports": False})   # the defaults are
