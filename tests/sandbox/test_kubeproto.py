"""Protobuf: what real clients send (kubectl 1.32 `create`) decodes into the objects they meant, and
kubectl 1.20 validates `apply`/`diff` against the sandbox's /openapi/v2 (gnostic protobuf)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from c7n_upgrade.sandbox import kubeproto
from tests.real_tools import real_tool
from tests.sandbox.apiserver_objects import GUIDE_CRD_YAML

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_TOOL = ROOT / "scripts" / "kube-proto-schema.py"
NS = "choerodon-devops-prod"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.19
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: 1, memory: 64Mi}}
"""


def _check_schema(binary, schema=None):
    args = [sys.executable, str(SCHEMA_TOOL), "check", "--binary", str(binary)]
    if schema:
        args += ["--schema", str(schema)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("tool", ["kubectl", "kubectl-1.20", "helm"])
def test_schema_agrees_with_the_messages_compiled_into_real_clients(tool):
    binary = shutil.which("kubectl") if tool == "kubectl" else real_tool(tool)
    result = _check_schema(binary)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 problem(s)" in result.stdout


def test_schema_check_finds_a_wrong_field_number(tmp_path):
    schema = json.loads(kubeproto.messages.SCHEMA.read_text())
    fields = schema["messages"]["k8s.io.api.core.v1.Secret"]
    data = next(f for f in fields if f[0] == "data")
    data[1] = 9
    broken = tmp_path / "schema.json"
    broken.write_text(json.dumps(schema))
    result = _check_schema(shutil.which("kubectl"), broken)
    assert result.returncode == 1
    assert "k8s.io.api.core.v1.Secret.data" in result.stdout


def _get(api_server, path) -> dict:
    resp = requests.get(api_server.url + path, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_kubectl_create_sends_protobuf_that_decodes_to_what_it_meant(kubectl, api_server):
    sent = kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cr3t", "-n", NS, "-v=8")
    assert "Content-Type: application/vnd.kubernetes.protobuf" in sent.stderr  # what this test is about
    kubectl("create", "configmap", "settings", "--from-literal=mode=fast", "-n", NS)
    kubectl("create", "deployment", "idle", "--image=nginx:1.19", "--replicas=0", "--port=8080", "-n", NS)
    kubectl("create", "job", "once", "--image=busybox", "-n", NS, "--", "true")
    get = lambda path: _get(api_server, path)
    secret = get(f"/api/v1/namespaces/{NS}/secrets/creds")
    assert secret["data"] == {"password": "czNjcjN0"}
    assert get(f"/api/v1/namespaces/{NS}/configmaps/settings")["data"] == {"mode": "fast"}
    deployment = get(f"/apis/apps/v1/namespaces/{NS}/deployments/idle")
    assert deployment["spec"]["replicas"] == 0  # a pointer field kept at zero
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.19" and container["ports"] == [{"containerPort": 8080}]
    job = get(f"/apis/batch/v1/namespaces/{NS}/jobs/once")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["true"]


def test_a_protobuf_body_of_an_unknown_kind_is_refused_with_415(api_server):
    envelope = kubeproto.messages.message_class("k8s.io.apimachinery.pkg.runtime.Unknown")()
    envelope.typeMeta.apiVersion, envelope.typeMeta.kind = "example.com/v1", "Gadget"
    envelope.raw = b""
    resp = requests.post(f"{api_server.url}/api/v1/namespaces/{NS}/configmaps",
                         data=kubeproto.MAGIC + envelope.SerializeToString(),
                         headers={"Content-Type": kubeproto.PROTOBUF}, timeout=10)
    assert resp.status_code == 415
    assert "example.com/v1/Gadget" in resp.json()["message"]


def test_a_body_without_the_magic_is_refused_with_415(api_server):
    resp = requests.post(f"{api_server.url}/api/v1/namespaces/{NS}/configmaps", data=b"\x0a\x02hi",
                         headers={"Content-Type": kubeproto.PROTOBUF}, timeout=10)
    assert resp.status_code == 415 and "k8s\\0" in resp.json()["message"]


@pytest.fixture
def kubectl_120(kubeconfig, tmp_path):
    binary = real_tool("kubectl-1.20")
    env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(tmp_path))

    def run(*args, check=True):
        result = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl 1.20 {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result
    return run


def test_kubectl_120_validates_apply_against_openapi_v2(kubectl_120, tmp_path):
    good = tmp_path / "web.yaml"
    good.write_text(DEPLOYMENT)
    assert "deployment.apps/web created" in kubectl_120("apply", "-f", str(good)).stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEPLOYMENT.replace("image: nginx:1.19", "image: nginx:1.19\n        imagePolicy: Always"))
    refused = kubectl_120("apply", "-f", str(bad), check=False)
    assert refused.returncode != 0
    assert 'unknown field "imagePolicy" in io.k8s.api.core.v1.Container' in refused.stderr


def test_kubectl_120_diff_shows_a_change_by_server_dry_run(kubectl_120, tmp_path, api_server):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT)
    kubectl_120("apply", "-f", str(manifest))
    manifest.write_text(DEPLOYMENT.replace("replicas: 1", "replicas: 3"))
    diff = kubectl_120("diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    assert "-  replicas: 1" in diff.stdout and "+  replicas: 3" in diff.stdout
    assert _get(api_server, f"/apis/apps/v1/namespaces/{NS}/deployments/web")["spec"]["replicas"] == 1  # diff changed nothing


def test_kubectl_120_applies_and_diffs_the_guides_crd(kubectl_120, tmp_path):
    manifest = tmp_path / "C7NHelmRelease.yaml"
    manifest.write_text(GUIDE_CRD_YAML)
    created = kubectl_120("apply", "-f", str(manifest))
    assert "c7nhelmreleases.choerodon.io created" in created.stdout
    assert kubectl_120("diff", "-f", str(manifest), check=False).returncode == 0
