"""The sandbox Kubernetes API server's other resources (Deployments, Jobs, ConfigMaps, Secrets, Leases,
Services), CRDs and kubectl apply."""
import base64
import ipaddress
import json

import pytest
import requests
from kubernetes import client
from kubernetes.client.rest import ApiException

from .apiserver_objects import CRD_V1BETA1_PATH, GUIDE_CRD_YAML, core, error_status  # noqa: F401 (core: a fixture)
from .conftest import NAMESPACE


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
