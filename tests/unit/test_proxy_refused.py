"""`access: proxy` against an API server that will not proxy to the pods' addresses (a real one refuses
loopback and link-local IPs: 400 "address not allowed"): one `ProxyRefused` naming that, from the up-front
check; any other answer of the pod (or its silence) is left to the health checks."""
from __future__ import annotations

import json

import pytest

from c7n_upgrade.kube import KubeClient, KubeTimeout, ProxyRefused
from c7n_upgrade.kube.transport import Response

PODS = {"items": [
    {"metadata": {"name": "starting"}, "spec": {"containers": [{"ports": [{"containerPort": 1}]}]}, "status": {}},
    {"metadata": {"name": "iam-0"}, "spec": {"containers": [{"name": "iam", "ports": [{"containerPort": 8030}]}]},
     "status": {"podIP": "127.1.0.7"}},
]}
REFUSED = {"kind": "Status", "status": "Failure", "message": "address not allowed", "reason": "BadRequest", "code": 400}


def _client(proxied):
    """A client whose API server lists PODS and answers each proxy GET with `proxied(path)`."""
    kube = KubeClient.__new__(KubeClient)
    kube.namespace = "ns"
    paths = []

    def request(method, path, **kw):
        paths.append(path)
        if path.endswith("/pods"):
            assert kw["query"]["fieldSelector"] == "status.phase=Running"
            return Response(200, {}, json.dumps(PODS).encode())
        return proxied(path)
    kube._request = request
    return kube, paths


def test_a_refused_address_is_one_error_naming_it_and_the_access_mode():
    kube, paths = _client(lambda path: Response(400, {}, json.dumps(REFUSED).encode()))
    with pytest.raises(ProxyRefused) as caught:
        kube.check_proxy()
    assert paths[-1] == "/api/v1/namespaces/ns/pods/iam-0:8030/proxy/"  # the first pod with an IP, its port
    assert "refuses to proxy to pod iam-0 ('address not allowed'" in str(caught.value)
    assert "access: proxy cannot reach the pods" in str(caught.value)


@pytest.mark.parametrize("answer", [Response(503, {}, b"DOWN"), Response(400, {}, b"bad request from the pod"),
                                    KubeTimeout("no answer")])
def test_any_other_answer_or_silence_of_the_pod_passes(answer):
    def proxied(path):
        if isinstance(answer, Exception):
            raise answer
        return answer
    kube, paths = _client(proxied)
    kube.check_proxy()
    assert len(paths) == 2


def test_no_running_pod_checks_nothing():
    kube = KubeClient.__new__(KubeClient)
    kube.namespace = "ns"
    kube._request = lambda method, path, **kw: Response(200, {}, b'{"items": []}')
    kube.check_proxy()
