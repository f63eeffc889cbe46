"""A Choerodon service's container on the node (sandbox/node/choerodon.py) killed while its slow
start's timer fires: no listener stays on the pod's address after the kill."""
from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from c7n_upgrade.sandbox.node.choerodon import ServiceContainer

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
