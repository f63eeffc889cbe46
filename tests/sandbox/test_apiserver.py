"""The sandbox Kubernetes API server, checked with the official client, raw HTTP and kubectl."""
import base64
import ipaddress
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from c7n_upgrade.sandbox.apiserver.errors import AlreadyExists, Conflict, Invalid, NotFound

from .conftest import NAMESPACE

GUIDE_CRD_YAML = """\
apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata:
  name: c7nhelmreleases.choerodon.io
spec:
  group: choerodon.io
  names:
    kind: C7NHelmRelease
    listKind: C7NHelmReleaseList
    plural: c7nhelmreleases
    singular: c7nhelmrelease
  scope: Namespaced
  version: v1alpha1
"""
CRD_V1BETA1_PATH = "/apis/apiextensions.k8s.io/v1beta1/customresourcedefinitions"


def pod(name, labels=None, port=8080, image="registry.example/iam-service:0.8.0"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": port}],
                                     "env": [{"name": "A", "value": "1"}]}]}}


def error_status(exc: ApiException) -> dict:
    return json.loads(exc.body)


@pytest.fixture
def core(kube_client):
    return client.CoreV1Api(kube_client)


@pytest.fixture
def upstream():
    """A tiny HTTP server on 127.0.0.1 standing in for a pod's process."""
    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            payload = json.dumps({"method": self.command, "path": self.path, "body": body.decode()}).encode()
            self.send_response(200 if not self.path.startswith("/down") else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


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


# ---------------------------------------------------------------- other resources

def test_deployments_generation_strategic_patch_and_stale_replace(kube_client, api_server):
    apps = client.AppsV1Api(kube_client)
    body = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "iam-service", "labels": {"choerodon.io/release": "iam-service"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "iam"}},
                     "template": {"metadata": {"labels": {"app": "iam"}},
                                  "spec": {"containers": [{"name": "iam", "image": "iam:0.8.0",
                                                           "env": [{"name": "A", "value": "1"}]}]}}}}
    created = apps.create_namespaced_deployment(NAMESPACE, body)
    assert created.metadata.generation == 1
    patched = apps.patch_namespaced_deployment("iam-service", NAMESPACE, {"spec": {"template": {"spec": {
        "containers": [{"name": "iam", "image": "iam:0.9.0"}]}}}})
    assert patched.metadata.generation == 2
    assert patched.spec.template.spec.containers[0].env[0].name == "A"    # strategic merge kept env
    labelled = apps.patch_namespaced_deployment("iam-service", NAMESPACE, {"metadata": {"labels": {"x": "1"}}})
    assert labelled.metadata.generation == 2                               # no spec change, no bump
    status = apps.patch_namespaced_deployment_status("iam-service", NAMESPACE, {"status": {
        "observedGeneration": 2, "replicas": 1, "readyReplicas": 1}})
    assert status.status.ready_replicas == 1
    created.spec.replicas = 3
    with pytest.raises(ApiException) as stale:
        apps.replace_namespaced_deployment("iam-service", NAMESPACE, created)
    assert stale.value.status == 409 and error_status(stale.value)["reason"] == "Conflict"
    # the 0.9 charts use apps/v1beta2, which a 1.15 cluster still serves
    beta = requests.get(f"{api_server.url}/apis/apps/v1beta2/namespaces/{NAMESPACE}/deployments/iam-service").json()
    assert beta["apiVersion"] == "apps/v1beta2" and beta["metadata"]["labels"]["x"] == "1"


def test_jobs(kube_client):
    batch = client.BatchV1Api(kube_client)
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "iam-service-init-db"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "init", "image": "dbtool:0.6"}]}}}}
    batch.create_namespaced_job(NAMESPACE, body)
    batch.patch_namespaced_job_status("iam-service-init-db", NAMESPACE, {"status": {"succeeded": 1}})
    jobs = batch.list_namespaced_job(NAMESPACE).items
    assert [(j.metadata.name, j.status.succeeded) for j in jobs] == [("iam-service-init-db", 1)]
    with pytest.raises(ApiException) as leftover:
        batch.create_namespaced_job(NAMESPACE, body)
    assert leftover.value.status == 409 and "already exists" in error_status(leftover.value)["message"]


def test_configmaps_and_secrets(core, store):
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "c7n-logs"}, "data": {"step": "3"}})
    assert core.read_namespaced_config_map("c7n-logs", NAMESPACE).data == {"step": "3"}
    core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "s1"}, "stringData": {"password": "pw"},
                                              "data": {"user": base64.b64encode(b"admin").decode()}})
    secret = core.read_namespaced_secret("s1", NAMESPACE)
    assert base64.b64decode(secret.data["password"]) == b"pw"
    assert base64.b64decode(secret.data["user"]) == b"admin"
    assert "stringData" not in store.get("secrets", NAMESPACE, "s1")


def test_lease_second_create_conflicts(kube_client):
    coord = client.CoordinationV1Api(kube_client)
    lease = {"metadata": {"name": "c7n-upgrade-lock"}, "spec": {"holderIdentity": "run-1"}}
    created = coord.create_namespaced_lease(NAMESPACE, lease)
    assert created.spec.holder_identity == "run-1"
    with pytest.raises(ApiException) as taken:
        coord.create_namespaced_lease(NAMESPACE, {"metadata": {"name": "c7n-upgrade-lock"},
                                                   "spec": {"holderIdentity": "run-2"}})
    assert taken.value.status == 409
    assert coord.read_namespaced_lease("c7n-upgrade-lock", NAMESPACE).spec.holder_identity == "run-1"


def test_services_get_cluster_ips(core):
    first = core.create_namespaced_service(NAMESPACE, {"metadata": {"name": "iam"},
                                                       "spec": {"ports": [{"port": 8030}]}})
    second = core.create_namespaced_service(NAMESPACE, {"metadata": {"name": "mgr"},
                                                        "spec": {"ports": [{"port": 8963}]}})
    ips = [ipaddress.ip_address(first.spec.cluster_ip), ipaddress.ip_address(second.spec.cluster_ip)]
    assert all(ip in ipaddress.ip_network("127.10.0.0/16") for ip in ips)
    assert int(ips[1]) - int(ips[0]) == 1  # handed out in sequence from a random start


# ---------------------------------------------------------------- CRDs and kubectl apply

def test_crd_v1beta1_through_the_raw_client(kube_client, api_server):
    body = {"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "c7nhelmreleases.choerodon.io"},
            "spec": {"group": "choerodon.io", "scope": "Namespaced", "version": "v1alpha1",
                     "names": {"kind": "C7NHelmRelease", "plural": "c7nhelmreleases"}}}
    # the client (37) has no v1beta1 models: send the request through its raw API
    method, url, headers, payload, _ = kube_client.param_serialize(
        "POST", CRD_V1BETA1_PATH, body=body, header_params={"Content-Type": "application/json"},
        auth_settings=["BearerToken"])
    response = kube_client.call_api(method, url, header_params=headers, body=payload)
    response.read()
    assert response.status == 201
    assert json.loads(response.data)["metadata"]["name"] == "c7nhelmreleases.choerodon.io"
    crd = requests.get(f"{api_server.url}{CRD_V1BETA1_PATH}/c7nhelmreleases.choerodon.io").json()
    assert crd["spec"]["versions"] == [{"name": "v1alpha1", "served": True, "storage": True}]
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    # a 1.15 cluster does not serve apiextensions.k8s.io/v1
    with pytest.raises(ApiException) as v1:
        client.ApiextensionsV1Api(kube_client).read_custom_resource_definition("c7nhelmreleases.choerodon.io")
    assert v1.value.status == 404
    # the custom resource is served once the CRD exists
    resources = requests.get(f"{api_server.url}/apis/choerodon.io/v1alpha1").json()["resources"]
    assert [r["kind"] for r in resources] == ["C7NHelmRelease"]
    release = {"apiVersion": "choerodon.io/v1alpha1", "kind": "C7NHelmRelease", "metadata": {"name": "r1"}}
    made = requests.post(f"{api_server.url}/apis/choerodon.io/v1alpha1/namespaces/{NAMESPACE}/c7nhelmreleases",
                         json=release)
    assert made.status_code == 201 and made.json()["metadata"]["uid"]


def test_kubectl_apply_of_the_guide_crd_verbatim(kubectl, tmp_path, api_server):
    manifest = tmp_path / "crd.yaml"
    manifest.write_text(GUIDE_CRD_YAML)
    out = kubectl("apply", "-f", str(manifest))
    assert "customresourcedefinition.apiextensions.k8s.io/c7nhelmreleases.choerodon.io created" in out.stdout
    kind = kubectl("get", "crd", "c7nhelmreleases.choerodon.io", "-o", "jsonpath={.spec.names.kind}").stdout
    assert kind == "C7NHelmRelease"
    assert "unchanged" in kubectl("apply", "-f", str(manifest)).stdout
    manifest.write_text(GUIDE_CRD_YAML.replace("    singular: c7nhelmrelease\n",
                                               "    singular: c7nhelmrelease\n    shortNames: [chr]\n"))
    assert "configured" in kubectl("apply", "-f", str(manifest)).stdout
    crd = requests.get(f"{api_server.url}{CRD_V1BETA1_PATH}/c7nhelmreleases.choerodon.io").json()
    assert crd["spec"]["names"]["shortNames"] == ["chr"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in crd["metadata"]["annotations"]


def test_kubectl_apply_built_in_kinds_twice(kubectl, tmp_path, core):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: '1'\n  b: '1'\n")
    kubectl("apply", "-f", str(manifest))
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: '2'\n")
    assert "configured" in kubectl("apply", "-f", str(manifest)).stdout
    assert core.read_namespaced_config_map("c1", NAMESPACE).data == {"a": "2"}   # b removed by 3-way patch


def test_server_side_dry_run_stores_nothing(kubectl, tmp_path, core, store):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: '1'\n")
    before = store.resource_version
    assert "(server dry run)" in kubectl("apply", "--dry-run=server", "-f", str(manifest)).stdout
    assert core.list_namespaced_config_map(NAMESPACE).items == []
    assert store.resource_version == before


# ---------------------------------------------------------------- logs, proxy, watch

def test_pod_logs_come_from_the_log_provider(api_server, core, kubectl):
    calls = []

    def provider(namespace, name, tail_lines):
        calls.append((namespace, name, tail_lines))
        return "line1\nline2\nStarted IamApplication\n"

    api_server.log_provider = provider
    core.create_namespaced_pod(NAMESPACE, pod("iam-1"))
    assert "Started IamApplication" in core.read_namespaced_pod_log("iam-1", NAMESPACE, tail_lines=5)
    assert kubectl("logs", "iam-1").stdout.endswith("Started IamApplication\n")
    assert calls == [(NAMESPACE, "iam-1", 5), (NAMESPACE, "iam-1", None)]
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod_log("nope", NAMESPACE)
    assert missing.value.status == 404


def test_pod_proxy_forwards_to_the_pod_ip(core, api_server, upstream, kubectl):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1", port=upstream))
    core.create_namespaced_pod(NAMESPACE, pod("pending-1", port=upstream))
    core.patch_namespaced_pod_status("iam-1", NAMESPACE, {"status": {"podIP": "127.0.0.1"}})
    raw_answer = core.connect_get_namespaced_pod_proxy_with_path("iam-1", NAMESPACE, "health",
                                                                 _preload_content=False)
    answer = json.loads(raw_answer.data)
    assert answer["path"] == "/health" and answer["method"] == "GET"
    raw = kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/iam-1:{upstream}/proxy/env?x=1&x=2").stdout
    assert json.loads(raw)["path"] == "/env?x=1&x=2"
    base = f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/pods"
    posted = requests.post(f"{base}/iam-1/proxy/form", data="a=b").json()
    assert (posted["method"], posted["body"]) == ("POST", "a=b")
    down = requests.get(f"{base}/iam-1/proxy/down")
    assert down.status_code == 503 and down.json()["path"] == "/down"      # upstream status passed through
    no_ip = requests.get(f"{base}/pending-1/proxy/health")
    assert no_ip.status_code == 503 and no_ip.json()["kind"] == "Status"
    refused = requests.get(f"{base}/iam-1:1/proxy/health")
    assert refused.status_code == 503 and "error trying to reach" in refused.json()["message"]


def test_service_proxy_forwards_to_cluster_ip(core, api_server, upstream):
    core.create_namespaced_service(NAMESPACE, {"metadata": {"name": "iam"},
                                               "spec": {"clusterIP": "127.0.0.1",
                                                        "ports": [{"name": "http", "port": upstream}]}})
    answer = requests.get(f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/services/iam:http/proxy/v2/api-docs")
    assert answer.status_code == 200 and answer.json()["path"] == "/v2/api-docs"


def test_watch_streams_existing_and_new_events(core, store):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1", {"app": "iam"}))
    seen = []
    w = watch.Watch()

    def later():
        store.create("pods", pod("iam-2", {"app": "iam"}), NAMESPACE)
        store.create("pods", pod("other", {"app": "x"}), NAMESPACE)
        store.delete("pods", NAMESPACE, "iam-1")

    timer = threading.Timer(0.3, later)
    timer.start()
    for event in w.stream(core.list_namespaced_pod, NAMESPACE, label_selector="app=iam", timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    timer.join()
    assert seen == [("ADDED", "iam-1"), ("ADDED", "iam-2"), ("DELETED", "iam-1")]


# ---------------------------------------------------------------- kubeconfig, logging, mounts

def test_kubeconfig_is_private_and_points_at_the_server(kubeconfig, api_server):
    import yaml
    assert stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600
    config = yaml.safe_load(open(kubeconfig))
    assert config["current-context"] == "sandbox"
    assert config["clusters"][0]["cluster"]["server"] == api_server.url
    assert config["contexts"][0]["context"]["namespace"] == NAMESPACE


def test_request_lines_are_logged_and_mounts_answer(api_server, tmp_path):
    api_server.mount("/charts/", lambda method, path, query, headers, body: (
        200, {"Content-Type": "text/yaml"}, f"{method} {path} {query}".encode()))
    answer = requests.get(api_server.url + "/charts/index.yaml?x=1")
    assert answer.text == "GET /charts/index.yaml {'x': '1'}"
    requests.get(api_server.url + "/api/v1/namespaces/default/pods/none")
    log_text = (tmp_path / "apiserver.log").read_text()
    assert "GET /charts/index.yaml?x=1 200" in log_text
    assert "GET /api/v1/namespaces/default/pods/none 404" in log_text


# ---------------------------------------------------------------- store directly

def test_store_events_are_delivered_in_order_outside_the_lock():
    store = Store()
    events = []

    def react(event, resource, obj):
        events.append((event, resource, obj["metadata"]["name"]))
        if resource == "deployments.apps" and event == "ADDED":   # a controller writing from a callback
            store.create("pods", {"metadata": {"name": obj["metadata"]["name"] + "-pod"}}, "default")

    store.subscribe(react)
    store.create("deployments.apps", {"metadata": {"name": "d"}, "spec": {}}, "default")
    assert events == [("ADDED", "deployments.apps", "d"), ("ADDED", "pods", "d-pod")]


def test_store_errors_and_conflicts():
    store = Store(namespaces=("default",))
    store.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}}, "default")
    with pytest.raises(AlreadyExists):
        store.create("configmaps", {"metadata": {"name": "c"}}, "default")
    stale = store.get("configmaps", "default", "c")
    store.patch("configmaps", "default", "c", {"data": {"a": "2"}}, "merge")
    with pytest.raises(Conflict):
        store.replace("configmaps", stale, "default")
    with pytest.raises(NotFound):
        store.get("configmaps", "default", "missing")
    with pytest.raises(NotFound):
        store.create("configmaps", {"metadata": {"name": "c"}}, "choerodon-devops-prod")
    with pytest.raises(Invalid):
        store.create("configmaps", {"metadata": {}}, "default")
    with pytest.raises(Invalid):
        store.patch("configmaps", "default", "c", [{"op": "remove", "path": "/data/zzz"}], "json")
