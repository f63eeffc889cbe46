"""The real control plane (issue 16): built from k8s.io/kubernetes at the release controlplane/
pins, started on loopback with RBAC enforced. Driven by kubectl 1.32 (the system's), 1.20 (Debian's)
and the release's own, and by the official Python client."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from c7n_sandbox.controlplane import NAMESPACE

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
READ_VERBS = {"get", "list", "watch"}
# What every authenticated user may create (system:basic-user): asking the server about oneself.
# These requests change nothing; `kubectl auth can-i --list` itself is one of them.
SELF_REVIEWS = {"selfsubjectaccessreviews.authorization.k8s.io", "selfsubjectrulesreviews.authorization.k8s.io",
                "selfsubjectreviews.authentication.k8s.io"}


def _release() -> str:
    mod = (ROOT / "controlplane" / "kubernetes" / "go.mod").read_text()
    return re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\S+)", mod, re.M).group(1)


def _kubectl(binary, control_plane, tmp_path, *args, context="sandbox", timeout=60):
    env = dict(os.environ, HOME=str(tmp_path), KUBECACHEDIR=str(tmp_path / "kube-cache"))
    return subprocess.run([str(binary), f"--kubeconfig={control_plane.kubeconfig}", f"--context={context}", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _which(name):
    if name == "release":
        return None  # the control plane's own kubectl: control_plane.bin / kubectl
    if name == "1.20":
        from tests.real_tools import real_tool
        return real_tool("kubectl-1.20")
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail("kubectl (1.32) is not on PATH: this test drives the system's kubectl", pytrace=False)
    return binary


@pytest.fixture
def api(control_plane):
    """ApiClient factory: api(context) for a context of the control plane's kubeconfig."""
    made = []

    def make(context="sandbox"):
        made.append(kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig), context=context))
        return made[-1]
    yield make
    for c in made:
        c.close()


def _wait(what, probe, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f} s: {what}")
        time.sleep(0.2)


@pytest.mark.parametrize("kubectl", ["1.32", "1.20", "release"])
def test_kubectl_version_names_the_real_api_server(control_plane, tmp_path, kubectl):
    binary = _which(kubectl) or control_plane.bin / "kubectl"
    result = _kubectl(binary, control_plane, tmp_path, "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    server = json.loads(result.stdout)["serverVersion"]
    assert server["gitVersion"] == _release(), server
    assert (server["major"], server["minor"]) == ("1", _release().split(".")[1])
    if kubectl == "release":
        assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == _release()


def test_the_upgrade_contexts_are_the_service_accounts_of_deploy_rbac(control_plane, tmp_path):
    for context in ("c7n-upgrade", "c7n-upgrade-check"):
        result = control_plane.kubectl("auth", "whoami", "-o", "json", context=context)
        assert result.returncode == 0, result.stderr
        user = json.loads(result.stdout)["status"]["userInfo"]
        assert user["username"] == f"system:serviceaccount:{NAMESPACE}:{context}"
    result = control_plane.kubectl("config", "current-context")
    assert result.stdout.strip() == "sandbox"


def _can_i_list(control_plane, context) -> dict[str, set[str]]:
    result = control_plane.kubectl("auth", "can-i", "--list", "-n", NAMESPACE, context=context)
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines()[1:]:
        verbs = re.search(r"\[([^\]]*)\]\s*$", line)
        assert verbs, line
        rows[line.split()[0]] = set(verbs.group(1).split())
    return rows


def test_auth_can_i_list_of_the_check_identity_is_reads_only(control_plane):
    rows = _can_i_list(control_plane, "c7n-upgrade-check")
    writes = {resource: verbs - READ_VERBS for resource, verbs in rows.items()
              if verbs - READ_VERBS and resource not in SELF_REVIEWS}
    assert writes == {}, f"c7n-upgrade-check may write: {writes}"
    assert rows["configmaps"] == READ_VERBS and rows["pods/log"] == READ_VERBS
    # the same listing for the upgrade identity does show its writes: the check above can fail
    upgrade = _can_i_list(control_plane, "c7n-upgrade")
    assert {"create", "delete"} <= upgrade["configmaps"]


def test_a_write_as_c7n_upgrade_check_is_forbidden(control_plane, tmp_path, api):
    result = _kubectl(control_plane.bin / "kubectl", control_plane, tmp_path, "create", "configmap",
                      "check-may-not-write", "-n", NAMESPACE, "-v=6", context="c7n-upgrade-check")
    assert result.returncode != 0
    assert 'is forbidden: User "system:serviceaccount:choerodon-devops-prod:c7n-upgrade-check" cannot create ' \
           'resource "configmaps"' in result.stderr, result.stderr
    assert re.search(r'verb="POST" url="[^"]*/configmaps[^"]*" status="403 Forbidden"', result.stderr), result.stderr
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="check-may-not-write"))
    with pytest.raises(ApiException) as raised:
        k8s.CoreV1Api(api("c7n-upgrade-check")).create_namespaced_config_map(NAMESPACE, body)
    assert raised.value.status == 403


def test_c7n_upgrade_writes_in_its_namespace_only(control_plane, api):
    core = k8s.CoreV1Api(api("c7n-upgrade"))
    name = f"upgrade-lock-{uuid.uuid4().hex[:6]}"
    created = core.create_namespaced_config_map(NAMESPACE, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name)))
    assert created.metadata.namespace == NAMESPACE and created.metadata.uid
    core.delete_namespaced_config_map(name, NAMESPACE)
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name)))
    assert raised.value.status == 403


def test_the_python_client_lists_namespaces_as_admin(control_plane, api):
    names = {ns.metadata.name for ns in k8s.CoreV1Api(api()).list_namespace().items}
    assert {"default", "kube-system", "kube-public", NAMESPACE} <= names
    with pytest.raises(ApiException) as raised:  # …which the check identity may not
        k8s.CoreV1Api(api("c7n-upgrade-check")).list_namespace()
    assert raised.value.status == 403


def test_the_controller_manager_fills_a_new_namespace(control_plane, api):
    core = k8s.CoreV1Api(api())
    ns = f"cm-{uuid.uuid4().hex[:6]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    _wait(f"ServiceAccount default in {ns}",
          lambda: [sa for sa in core.list_namespaced_service_account(ns).items if sa.metadata.name == "default"])
    ca = _wait(f"ConfigMap kube-root-ca.crt in {ns}",
               lambda: [cm for cm in core.list_namespaced_config_map(ns).items
                        if cm.metadata.name == "kube-root-ca.crt"])
    assert "BEGIN CERTIFICATE" in ca[0].data["ca.crt"]


def test_a_deployment_gets_a_replicaset_and_pods_that_no_node_runs(control_plane, api):
    """With no node yet, the controllers create the ReplicaSet and its pods; the scheduler marks
    each pod Unschedulable; nothing runs them (the node stand-in is the next part of issue 16)."""
    apps, core = k8s.AppsV1Api(api()), k8s.CoreV1Api(api())
    name = f"web-{uuid.uuid4().hex[:6]}"
    labels = {"app": name}
    apps.create_namespaced_deployment(NAMESPACE, k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1DeploymentSpec(replicas=2, selector=k8s.V1LabelSelector(match_labels=labels),
                                  template=k8s.V1PodTemplateSpec(
                                      metadata=k8s.V1ObjectMeta(labels=labels),
                                      spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox")])))))
    rs = _wait("a ReplicaSet of the Deployment", lambda: [
        r for r in apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"app={name}").items
        if r.metadata.owner_references and r.metadata.owner_references[0].name == name])
    assert rs[0].spec.replicas == 2

    def unschedulable():
        pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app={name}").items
        done = [p for p in pods if any(c.type == "PodScheduled" and c.status == "False"
                                       for c in p.status.conditions or [])]
        return pods if len(pods) == 2 and len(done) == 2 else None
    pods = _wait("2 pods marked unschedulable by the scheduler", unschedulable)
    for pod in pods:
        assert pod.metadata.owner_references[0].name == rs[0].metadata.name
        assert pod.status.phase == "Pending" and not pod.spec.node_name
        cond = next(c for c in pod.status.conditions if c.type == "PodScheduled")
        assert cond.reason == "Unschedulable" and "no nodes available" in cond.message, cond
        # default admission: the ServiceAccount plugin mounted the projected API token
        assert pod.spec.service_account_name == "default"
        assert any(v.projected and v.name.startswith("kube-api-access-") for v in pod.spec.volumes)
    status = apps.read_namespaced_deployment_status(name, NAMESPACE).status
    assert not status.ready_replicas and status.unavailable_replicas == 2


def test_a_component_that_dies_is_named_with_its_log(tmp_path):
    """No control plane needed: an `etcd` that exits at once stops start() at once (not at the
    timeout), with the component, its exit code and its last log lines."""
    from c7n_sandbox.controlplane import ControlPlane, ControlPlaneError

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "etcd"
    fake.write_text("#!/bin/sh\necho 'etcdmain: listen tcp 127.0.0.1:1: bind: permission denied' >&2\nexit 3\n")
    fake.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(ControlPlaneError) as raised:
        ControlPlane(tmp_path / "cp", bin_dir).start(timeout=60)
    assert time.monotonic() - started < 20
    message = str(raised.value)
    assert message.startswith("etcd exited with code 3 before it was ready"), message
    assert "bind: permission denied" in message


def test_a_port_taken_before_etcd_binds_it_starts_again(control_plane, tmp_path, monkeypatch):
    """free_port() only says a port was free a moment ago: when another process takes it first,
    start() begins again on other ports instead of failing."""
    import socket

    from c7n_sandbox.controlplane import ControlPlane, cluster

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real = cluster.free_port
    monkeypatch.setattr(cluster, "free_port", lambda: next(ports, None) or real())
    lines = []
    try:
        with ControlPlane(tmp_path / "cp", control_plane.bin, log=lines.append) as cp:
            assert cp.version()["gitVersion"] == _release()
    finally:
        taken.close()
    retried = [line for line in lines if "a port was taken meanwhile" in line]
    assert len(retried) == 1 and "etcd exited" in retried[0], lines
