"""The node's kubelet API (sandbox/node/server.py) as a TLS server: a client that connects and
never speaks TLS does not stall the others (the handshake ran in the accept loop)."""
from __future__ import annotations

import socket
import ssl
import urllib.request
from types import SimpleNamespace

import pytest

from c7n_upgrade.sandbox.node.server import KubeletServer

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
