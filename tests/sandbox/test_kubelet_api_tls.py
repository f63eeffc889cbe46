"""The node's kubelet API (sandbox/node/server.py) as a TLS server: a client that connects and
never speaks TLS does not stall the others (the handshake ran in the accept loop); a node whose
start fails closes it."""
from __future__ import annotations

import socket
import ssl
import urllib.request
from types import SimpleNamespace

import pytest
import yaml

from c7n_sandbox.node.server import KubeletServer

pytestmark = pytest.mark.sandbox


@pytest.fixture
def kubelet_api(tmp_path):
    node = SimpleNamespace(name="tls-test", address="127.0.0.1", find=lambda namespace, name: None)
    server = KubeletServer(node, tmp_path / "pki")
    port = server.start()
    yield port
    server.stop()


def _healthz(port: int) -> str:
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE   # as the sandbox's API server
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=insecure, timeout=10) as answer:
        return answer.read().decode()


def test_a_silent_connection_does_not_stall_the_kubelet_api(kubelet_api):
    assert _healthz(kubelet_api) == "ok"
    with socket.create_connection(("127.0.0.1", kubelet_api)):   # connected, no ClientHello
        assert _healthz(kubelet_api) == "ok"
        with socket.create_connection(("127.0.0.1", kubelet_api)) as plain:
            plain.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")        # plain HTTP to the TLS port
            assert _healthz(kubelet_api) == "ok"


def test_a_node_that_cannot_register_stops_its_kubelet_api(tmp_path):
    from c7n_sandbox.node.kubelet import Node, NodeError
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sandbox",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "c", "user": "u"}}]}))
    node = Node(kubeconfig, tmp_path / "node", name="unregistered", pod_cidr="127.79.0.0/16",
                choerodon={"privileged_ports": False}, services=False)
    with pytest.raises(NodeError, match=r"registering node unregistered: cannot reach the API server at https://127.0.0.1:1"):
        node.start(timeout=5)   # no API server there
    assert node.port, "the kubelet API had started"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", node.port)) != 0, "the kubelet API still listens"
