"""access: proxy where the API server does proxy (a real cluster with routable pod IPs; the sandbox's
server refuses its loopback pod IPs): the pod's and the Service's answers come back as they are, a 503
from /health included, and only the API server's own refusals are errors. The API server here is a
stub on loopback answering the proxy paths as kube-apiserver does."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest
import yaml

from c7n_upgrade.kube import KubeApiError, KubeClient, ProxyRefused
from tests.local_http import serving

NS = "choerodon-devops-prod"
POD = {"metadata": {"name": "iam-1"}, "status": {"phase": "Running", "podIP": "10.244.1.7"},
       "spec": {"containers": [{"name": "iam", "ports": [{"containerPort": 8031}]}]}}


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                       "message": message, "code": code}).encode()


class ApiServer(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802
        ApiServer.seen.append(self.path)
        base = f"/api/v1/namespaces/{NS}"
        if self.path.startswith(f"{base}/pods?"):
            self._send(200, "application/json", json.dumps({"kind": "PodList", "items": [POD]}).encode())
        elif self.path == f"{base}/pods/iam-1:8031/proxy/health":  # the pod's own answer, passed through
            self._send(503, "application/vnd.spring-boot.actuator.v2+json", b'{"status":"DOWN"}')
        elif self.path == f"{base}/pods/iam-1:8031/proxy/":
            self._send(404, "text/plain", b"no page here")
        elif self.path == f"{base}/services/iam-service:8030/proxy/health?verbose=1":
            self._send(200, "application/json", b'{"status":"UP"}')
        elif self.path.startswith(f"{base}/pods/secret-1:"):
            self._send(403, "application/json", _status(403, "Forbidden", 'pods "secret-1" is forbidden: User '
                                                        '"c7n-upgrade-check" cannot get resource "pods/proxy"'))
        elif self.path.startswith(f"{base}/pods/local-1:"):
            self._send(400, "application/json", _status(400, "BadRequest", "address not allowed"))
        else:
            self._send(404, "application/json", _status(404, "NotFound", "the server could not find it"))

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def kube(tmp_path):
    with serving(ApiServer) as port:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
                  "clusters": [{"name": "x", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                  "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x", "namespace": NS}}],
                  "users": [{"name": "x", "user": {"token": "t"}}]}
        (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
        client = KubeClient(kubeconfig=str(tmp_path / "kubeconfig"), request_timeout=5)
        ApiServer.seen = []
        yield client
        client.close()


def test_the_pods_and_the_services_answers_come_back_as_they_are(kube):
    status, headers, body = kube.proxy_get("iam-1", 8031, "/health", timeout=5)
    assert (status, body) == (503, b'{"status":"DOWN"}')  # a DOWN pod is an answer, not an error
    assert headers["Content-Type"] == "application/vnd.spring-boot.actuator.v2+json"
    status, _, body = kube.proxy_service_get("iam-service", 8030, "/health?verbose=1", timeout=5)
    assert (status, body) == (200, b'{"status":"UP"}')
    assert ("get", "pods/proxy") in kube.calls and ("get", "services/proxy") in kube.calls


def test_the_proxy_check_passes_when_the_api_server_proxies_whatever_the_pod_says(kube):
    kube.check_proxy(timeout=5)  # the pod's 404 on / is its own answer
    assert ApiServer.seen[-1].endswith("/pods/iam-1:8031/proxy/")


def test_only_the_api_servers_own_refusals_are_errors(kube):
    with pytest.raises(KubeApiError, match='cannot get resource "pods/proxy"') as refused:
        kube.proxy_get("secret-1", 8031, "/health", timeout=5)
    assert refused.value.status == 403
    with pytest.raises(ProxyRefused, match="refuses to proxy to pod local-1 .'address not allowed'"):
        kube.proxy_get("local-1", 8031, "/health", timeout=5)
