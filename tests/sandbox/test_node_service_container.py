"""A Choerodon service's container on the node (sandbox/node/choerodon.py) killed while its slow
start's timer fires leaves no listener; port-forward reaches a port the node moved 8000 higher."""
from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from c7n_sandbox.node.choerodon import ServiceContainer

pytestmark = pytest.mark.sandbox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_slow_start_that_fires_as_the_container_is_killed_leaves_no_listener(tmp_path):
    port = _free_port()
    pod = {"metadata": {"name": "api-1", "namespace": "ns", "uid": "u", "labels": {}}, "spec": {"containers": [{}]}}
    worker = SimpleNamespace(pod=pod, ip="127.0.0.1")
    container = SimpleNamespace(pod=worker, name="api", spec={"ports": [{"containerPort": port}]})
    world = SimpleNamespace(after_bootstrap=lambda worker: False, bind_port=lambda p: p)
    service = ServiceContainer(world, container, {}, tmp_path / "0.log", delay=600)
    service.start()
    service.kill()
    service._listen()     # the timer's thread, past cancel(): it had fired just before the kill
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "a killed container still listens"
    assert service.servers == []


def test_port_forward_reaches_a_port_below_1024_where_the_node_serves_it(tmp_path):
    """Without root the node serves a Choerodon image's port 80 on 8080 (world.bind_port): port-forward
    to the pod's 80 must reach it there, as the kube-proxy and the probes' listeners do."""
    from c7n_sandbox.node.streams import dial
    low = next(p for p in range(1, 1024) if _bindable(p + 8000))
    world = SimpleNamespace(bind_port=lambda p: p if p >= 1024 else p + 8000)
    worker = SimpleNamespace(ip="127.0.0.1", name="front", namespace="ns", uid="u", node=SimpleNamespace(world=world))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", low + 8000))
        listener.listen(1)
        with dial(worker, low):
            accepted, _ = listener.accept()
            accepted.close()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
