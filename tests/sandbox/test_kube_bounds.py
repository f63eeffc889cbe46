"""A Kubernetes API server that accepts and never answers: the first request fails after its limit
naming the server, the next ones fail at once (the breaker) instead of costing the limit each; a pod
silent behind the API server's proxy does not count against the API server."""
from __future__ import annotations

import pytest
import yaml

from c7n_upgrade.kube import KubeClient, KubeTimeout
from tests.hanging import Unanswering


def test_a_hung_api_server_costs_one_limit_then_fails_at_once(tmp_path):
    with Unanswering() as server:
        url = f"http://127.0.0.1:{server.port}"
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
                      "clusters": [{"name": "x", "cluster": {"server": url}}],
                      "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x", "namespace": "ns"}}],
                      "users": [{"name": "x", "user": {"token": "t"}}]}
        (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
        kube = KubeClient(kubeconfig=str(tmp_path / "kubeconfig"), request_timeout=0.5)
        with pytest.raises(KubeTimeout, match=f"the Kubernetes API server at {url} did not answer get pods/proxy"):
            kube.proxy_get("iam-1", 8031, "/health", timeout=0.5)  # through the proxy: the pod's silence
        with pytest.raises(KubeTimeout, match=f"the Kubernetes API server at {url} did not answer list pods within 0.5s"):
            kube.list_pods()
        asked = len(server.accepted)
        for _ in range(5):
            with pytest.raises(KubeTimeout, match=r"did not answer list pods within 0.5s \(not asking again for \d+s\)"):
                kube.namespace_exists()
        assert len(server.accepted) == asked, "asked again while the breaker was open"
        kube.close()
