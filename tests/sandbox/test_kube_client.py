"""KubeClient without a cluster: the CRD check, and a closed port is ClusterUnreachable. (Its tests against
the deleted API emulator are to be moved onto the real control plane: docs/decisions.md.)"""
from __future__ import annotations

import json
import socket

import pytest
import yaml

from c7n_upgrade.kube import ClusterUnreachable, KubeClient
from c7n_upgrade.plan import load_plan

NS = "choerodon-devops-prod"


@pytest.fixture
def crd_spec():
    return load_plan("0.8-to-0.9").crd


def test_crd_matches_reports_differences(crd_spec):
    wrong = {"metadata": {"name": crd_spec.name}, "spec": {
        "group": "choerodon.io", "scope": "Cluster", "version": "v1beta9",
        "names": dict(crd_spec.names, plural="c7nhelmrelease")}}
    problems = KubeClient.crd_matches(wrong, crd_spec)
    assert any("spec.scope" in p for p in problems)
    assert any("spec.names.plural" in p for p in problems)
    assert any("'v1alpha1' is not served" in p for p in problems)
    v1_good = KubeClient.crd_body(crd_spec, "v1")
    assert KubeClient.crd_matches(v1_good, crd_spec) == []
    not_served = json.loads(json.dumps(v1_good))
    not_served["spec"]["versions"][0]["served"] = False
    assert KubeClient.crd_matches(not_served, crd_spec) != []


def test_closed_port_is_cluster_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    kubeconfig = tmp_path / "kubeconfig-closed"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": url}}], "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": NS}}]}))
    kube = KubeClient(kubeconfig=kubeconfig)
    with pytest.raises(ClusterUnreachable) as info:
        kube.server_version()
    assert url in str(info.value)
    with pytest.raises(ClusterUnreachable):
        kube.pods_of_release("register-server")
    assert "unavailable" in kube.pod_log_tail("x")  # never raises
