"""The kinds a cluster serves: discovery lists exactly the resources the API server answers, and the
kinds clients expect (nodes, service accounts, endpoints, the other workloads, RBAC, APIServices)
are there, at the versions a cluster of that minor serves."""
from __future__ import annotations

import pytest
import requests
from kubernetes import client

from c7n_upgrade.sandbox.apiserver import ApiServer, Store

from .conftest import NAMESPACE

NEW_KINDS = {  # plural -> (groupVersion at 1.15, kind, namespaced, short name)
    "nodes": ("v1", "Node", False, "no"),
    "serviceaccounts": ("v1", "ServiceAccount", True, "sa"),
    "endpoints": ("v1", "Endpoints", True, "ep"),
    "replicationcontrollers": ("v1", "ReplicationController", True, "rc"),
    "daemonsets": ("apps/v1", "DaemonSet", True, "ds"),
    "statefulsets": ("apps/v1", "StatefulSet", True, "sts"),
    "roles": ("rbac.authorization.k8s.io/v1", "Role", True, None),
    "rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding", True, None),
    "clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole", False, None),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False, None),
    "apiservices": ("apiregistration.k8s.io/v1", "APIService", False, None),
}


def discovered(url: str) -> dict[str, list[dict]]:
    """groupVersion -> its APIResourceList entries, for every group version the server lists."""
    gvs = ["v1"] + [v["groupVersion"] for g in requests.get(url + "/apis").json()["groups"] for v in g["versions"]]
    return {gv: requests.get(f"{url}/{'api' if gv == 'v1' else 'apis'}/{gv}").json()["resources"] for gv in gvs}


def collection_url(url: str, gv: str, entry: dict) -> str:
    root = f"{url}/api/{gv}" if gv == "v1" else f"{url}/apis/{gv}"
    return f"{root}/namespaces/{NAMESPACE}/{entry['name']}" if entry["namespaced"] else f"{root}/{entry['name']}"


@pytest.mark.parametrize("minor", [15, 22])
def test_every_listed_resource_answers_and_unlisted_ones_do_not(minor):
    with ApiServer(Store(), kube_minor=minor) as server:
        resources = discovered(server.url)
        for gv, entries in resources.items():
            for entry in (e for e in entries if "/" not in e["name"]):
                answer = requests.get(collection_url(server.url, gv, entry))
                assert answer.status_code == 200, (gv, entry["name"], answer.text)
                assert answer.json()["kind"] == entry["kind"] + "List"
        # served at 1.15 only: apps/v1beta2 and the RBAC/aggregator v1beta1 versions end by 1.22
        assert ("apps/v1beta2" in resources) == (minor == 15)
        assert ("rbac.authorization.k8s.io/v1beta1" in resources) == (minor == 15)
        # a kind the sandbox does not serve is neither listed nor answered
        assert "cronjobs" not in {e["name"] for e in resources.get("batch/v1", [])}
        assert requests.get(f"{server.url}/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs").status_code == 404


def test_new_kinds_are_listed_with_kind_scope_and_short_names(api_server):
    resources = discovered(api_server.url)
    for plural, (gv, kind, namespaced, short) in NEW_KINDS.items():
        entry = next(e for e in resources[gv] if e["name"] == plural)
        assert (entry["kind"], entry["namespaced"]) == (kind, namespaced), plural
        assert entry.get("shortNames", [None])[0] == short, plural
    apps = {e["name"] for e in resources["apps/v1"]}
    assert {"daemonsets/status", "statefulsets/status"} <= apps
    all_category = {e["name"] for gv in resources.values() for e in gv if "all" in e.get("categories", [])}
    assert {"daemonsets", "statefulsets", "replicationcontrollers", "pods", "deployments"} <= all_category


def test_kubectl_knows_the_new_kinds(kubectl):
    rows = {line.split()[0]: line.split() for line in kubectl("api-resources", "--no-headers").stdout.splitlines()}
    for plural, (gv, kind, namespaced, short) in NEW_KINDS.items():
        assert rows[plural][-1] == kind and rows[plural][-2] == str(namespaced).lower(), rows[plural]
        if short:
            assert rows[plural][1] == short


def test_rbac_and_apiservices_are_stored_as_sent(kube_client):
    rbac = client.RbacAuthorizationV1Api(kube_client)
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    rbac.create_namespaced_role(NAMESPACE, {"metadata": {"name": "reader"}, "rules": [rule]})
    rbac.create_cluster_role_binding({
        "metadata": {"name": "reader-binding"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NAMESPACE}]})
    role = rbac.read_namespaced_role("reader", NAMESPACE)
    assert (role.rules[0].resources, role.rules[0].verbs) == (["pods"], ["get", "list"])
    assert rbac.read_cluster_role_binding("reader-binding").subjects[0].name == "default"
    aggregator = client.ApiregistrationV1Api(kube_client)
    aggregator.create_api_service({"metadata": {"name": "v1beta1.metrics.k8s.io"},
                                   "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                                            "groupPriorityMinimum": 100, "versionPriority": 100}})
    assert aggregator.read_api_service("v1beta1.metrics.k8s.io").spec.group == "metrics.k8s.io"


def test_workload_kinds_keep_generation_and_status_apart(kube_client):
    apps = client.AppsV1Api(kube_client)
    template = {"metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "agent", "image": "registry.example/agent:1"}]}}
    apps.create_namespaced_daemon_set(NAMESPACE, {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}}, "template": template}})
    patched = apps.patch_namespaced_daemon_set("agent", NAMESPACE, {"spec": {"minReadySeconds": 5},
                                                                    "status": {"numberReady": 9}})
    assert patched.metadata.generation == 2
    assert not (patched.status and patched.status.number_ready)   # status only through /status
