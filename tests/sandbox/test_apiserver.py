"""The sandbox Kubernetes API server, checked with the official client, raw HTTP and kubectl:
version and discovery, pods (CRUD, errors, selectors), the status subresource and patches."""
import json

import pytest
import requests
from kubernetes import client
from kubernetes.client.rest import ApiException

from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from c7n_upgrade.sandbox.apiserver.errors import NotFound

from .apiserver_objects import CRD_V1BETA1_PATH, core, error_status, pod  # noqa: F401 (core: a fixture)
from .conftest import NAMESPACE


# ---------------------------------------------------------------- version and discovery

def test_version_reports_a_1_15_cluster(kube_client, kubectl):
    info = client.VersionApi(kube_client).get_code()
    assert (info.major, info.minor, info.git_version) == ("1", "15", "v1.15.12")
    server = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert server["gitVersion"] == "v1.15.12"


def test_discovery_lists_resources_subresources_and_short_names(api_server, kubectl):
    core_list = requests.get(api_server.url + "/api/v1").json()
    by_name = {r["name"]: r for r in core_list["resources"]}
    assert core_list["kind"] == "APIResourceList"
    assert {"pods/status", "pods/log", "pods/proxy", "services/proxy"} <= set(by_name)
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["namespaced"] is True
    assert by_name["namespaces"]["namespaced"] is False
    apps = requests.get(api_server.url + "/apis/apps/v1").json()
    assert {"deployments", "deployments/status"} <= {r["name"] for r in apps["resources"]}
    groups = {g["name"]: g for g in requests.get(api_server.url + "/apis").json()["groups"]}
    # a 1.15 cluster serves CRDs only as v1beta1, and still serves apps/v1beta2 (the 0.9 charts use it)
    assert [v["version"] for v in groups["apiextensions.k8s.io"]["versions"]] == ["v1beta1"]
    assert "v1beta2" in [v["version"] for v in groups["apps"]["versions"]]
    out = kubectl("api-resources", "--no-headers").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    for name, short in (("pods", "po"), ("services", "svc"), ("deployments", "deploy"),
                        ("configmaps", "cm"), ("namespaces", "ns"), ("customresourcedefinitions", "crd")):
        assert short in rows[name][1], rows[name]


def test_newer_cluster_serves_apiextensions_v1_only(tmp_path):
    store = Store()
    with ApiServer(store, kube_minor=22) as server:
        assert requests.get(server.url + "/version").json()["minor"] == "22"
        groups = {g["name"]: g for g in requests.get(server.url + "/apis").json()["groups"]}
        assert [v["version"] for v in groups["apiextensions.k8s.io"]["versions"]] == ["v1"]
        assert "v1beta2" not in [v["version"] for v in groups["apps"]["versions"]]
        gone = requests.get(server.url + CRD_V1BETA1_PATH)
        assert gone.status_code == 404 and gone.json()["kind"] == "Status"
        path = tmp_path / "kubeconfig"
        write_kubeconfig(str(path), server.url, NAMESPACE)
        from kubernetes import config as kube_config
        api_client = kube_config.new_client_from_config(config_file=str(path))
        ext = client.ApiextensionsV1Api(api_client)
        body = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "c7nhelmreleases.choerodon.io"},
                "spec": {"group": "choerodon.io", "scope": "Namespaced",
                         "names": {"kind": "C7NHelmRelease", "plural": "c7nhelmreleases"},
                         "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                       "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
        created = ext.create_custom_resource_definition(body)
        assert created.spec.names.list_kind == "C7NHelmReleaseList"
        assert [c.type for c in created.status.conditions] == ["NamesAccepted", "Established"]
        read = ext.read_custom_resource_definition("c7nhelmreleases.choerodon.io")
        assert read.api_version == "apiextensions.k8s.io/v1" and read.spec.versions[0].name == "v1alpha1"
        api_client.close()


# ---------------------------------------------------------------- pods: CRUD, errors, selectors

def test_create_pod_answers_201_with_server_set_metadata(core):
    obj, code, _ = core.create_namespaced_pod_with_http_info(NAMESPACE, pod("iam-1"))
    assert code == 201
    meta = obj.metadata
    assert meta.uid and meta.namespace == NAMESPACE and meta.creation_timestamp is not None
    second = core.create_namespaced_pod(NAMESPACE, pod("iam-2"))
    assert int(second.metadata.resource_version) > int(meta.resource_version)
    got = core.read_namespaced_pod("iam-1", NAMESPACE)
    assert got.metadata.uid == meta.uid and got.spec.containers[0].image.endswith("0.8.0")


def test_conflict_and_not_found_are_status_objects(core):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1"))
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_pod(NAMESPACE, pod("iam-1"))
    assert exists.value.status == 409
    assert error_status(exists.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", NAMESPACE)
    status = error_status(missing.value)
    assert missing.value.status == 404
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "NotFound", 404)
    assert status["message"] == 'pods "nope" not found'
    with pytest.raises(ApiException) as no_ns:
        core.create_namespaced_pod("no-such-namespace", pod("x"))
    assert no_ns.value.status == 404
    assert error_status(no_ns.value)["message"] == 'namespaces "no-such-namespace" not found'


def test_list_has_kind_api_version_and_resource_version(api_server, core):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1"))
    body = requests.get(f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/pods").json()
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1")
    assert int(body["metadata"]["resourceVersion"]) >= 1
    assert [i["metadata"]["name"] for i in body["items"]] == ["iam-1"]
    assert body["items"][0]["kind"] == "Pod"
    deployments = requests.get(f"{api_server.url}/apis/apps/v1/deployments").json()
    assert (deployments["kind"], deployments["apiVersion"], deployments["items"]) == (
        "DeploymentList", "apps/v1", [])


def test_label_selectors_equality_and_set_based(core):
    for name, labels in (("a", {"choerodon.io/release": "iam-service", "tier": "back"}),
                         ("b", {"choerodon.io/release": "manager-service", "tier": "back"}),
                         ("c", {"choerodon.io/release": "choerodon-front"})):
        core.create_namespaced_pod(NAMESPACE, pod(name, labels))

    def names(selector):
        return sorted(p.metadata.name for p in core.list_namespaced_pod(NAMESPACE, label_selector=selector).items)

    assert names("choerodon.io/release=iam-service") == ["a"]
    assert names("choerodon.io/release==iam-service") == ["a"]
    assert names("choerodon.io/release!=iam-service") == ["b", "c"]
    assert names("choerodon.io/release in (iam-service,choerodon-front)") == ["a", "c"]
    assert names("choerodon.io/release notin (iam-service)") == ["b", "c"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c"]
    assert names("tier=back,choerodon.io/release notin (manager-service)") == ["a"]
    assert [p.metadata.name for p in core.list_namespaced_pod(NAMESPACE, field_selector="metadata.name=b").items] \
        == ["b"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(NAMESPACE, label_selector="a in (x")
    assert bad.value.status == 400


def test_kubectl_reads_pods_by_label_and_pod_ip(core, kubectl):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1", {"choerodon.io/release": "iam-service"}))
    core.create_namespaced_pod(NAMESPACE, pod("mgr-1", {"choerodon.io/release": "manager-service"}))
    core.create_namespaced_pod(NAMESPACE, pod("front-1", {"choerodon.io/release": "choerodon-front"}))
    core.patch_namespaced_pod_status("iam-1", NAMESPACE, {"status": {"phase": "Running", "podIP": "127.20.0.7"}})
    out = kubectl("get", "po", "-l", "choerodon.io/release=iam-service", "-o", "jsonpath={.items[0].status.podIP}")
    assert out.stdout == "127.20.0.7"
    out = kubectl("get", "po", "-l", "choerodon.io/release in (iam-service,manager-service)", "-o", "name")
    assert sorted(out.stdout.split()) == ["pod/iam-1", "pod/mgr-1"]
    table = kubectl("get", "po").stdout
    assert table.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and "iam-1" in table


# ---------------------------------------------------------------- status subresource and patches

def test_status_subresource_is_separate_from_spec(core):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1"))
    patched = core.patch_namespaced_pod_status("iam-1", NAMESPACE,
                                               {"status": {"phase": "Running", "podIP": "127.20.0.9"},
                                                "spec": {"containers": [{"name": "main", "image": "other"}]}})
    assert patched.status.pod_ip == "127.20.0.9"
    assert patched.spec.containers[0].image.endswith("0.8.0")     # spec is not touched through /status
    current = core.read_namespaced_pod("iam-1", NAMESPACE)
    current.status.pod_ip = "10.0.0.1"
    current.metadata.labels = {"x": "y"}
    replaced = core.replace_namespaced_pod("iam-1", NAMESPACE, current)
    assert replaced.metadata.labels == {"x": "y"}
    assert replaced.status.pod_ip == "127.20.0.9"                  # status is not touched through the main resource


def test_patch_content_types(api_server, core):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1", {"keep": "1", "drop": "1"}))
    url = f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/pods/iam-1"

    def patch(content_type, body):
        return requests.patch(url, data=json.dumps(body), headers={"Content-Type": content_type})

    merged = patch("application/merge-patch+json", {"metadata": {"labels": {"drop": None, "new": "2"}}}).json()
    assert merged["metadata"]["labels"] == {"keep": "1", "new": "2"}
    # strategic merge: containers and env merge by name; merge patch replaces the list
    strategic = patch("application/strategic-merge-patch+json", {"spec": {"containers": [
        {"name": "main", "env": [{"name": "B", "value": "2"}]}]}}).json()
    container = strategic["spec"]["containers"][0]
    assert container["image"].endswith("0.8.0") and container["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    jsonp = patch("application/json-patch+json", [
        {"op": "replace", "path": "/metadata/labels/keep", "value": "3"},
        {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}},
        {"op": "remove", "path": "/metadata/labels/new"}]).json()
    assert jsonp["metadata"]["labels"] == {"keep": "3"} and jsonp["metadata"]["annotations"] == {"a": "b"}
    assert patch("application/apply-patch+yaml", {}).status_code == 415
    stale = patch("application/merge-patch+json", {"metadata": {"resourceVersion": "1", "labels": {"z": "1"}}})
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    missing = requests.patch(url + "x", data="{}", headers={"Content-Type": "application/merge-patch+json"})
    assert missing.status_code == 404
    not_allowed = requests.post(url, json=pod("iam-1"))
    assert not_allowed.status_code == 405 and not_allowed.json()["reason"] == "MethodNotAllowed"
    nameless = requests.post(f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/pods", json={"metadata": {}})
    assert nameless.status_code == 422 and nameless.json()["reason"] == "Invalid"


def test_delete_returns_the_object_and_removes_it(core):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1"))
    deleted = core.delete_namespaced_pod("iam-1", NAMESPACE)
    assert deleted.metadata.name == "iam-1"
    assert core.list_namespaced_pod(NAMESPACE).items == []
    with pytest.raises(ApiException) as again:
        core.delete_namespaced_pod("iam-1", NAMESPACE)
    assert again.value.status == 404


def test_store_get_or_none(store):
    store.create("pods", pod("iam-1"), NAMESPACE)
    assert store.get_or_none("pods", NAMESPACE, "iam-1")["metadata"]["name"] == "iam-1"
    assert store.get_or_none("pods", NAMESPACE, "iam-2") is None
    assert store.get_or_none("widgets.example.com", NAMESPACE, "w") is None  # no such resource type
    with pytest.raises(NotFound):
        store.get("pods", NAMESPACE, "iam-2")
