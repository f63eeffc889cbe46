"""KubeClient (the suite's library) against the real control plane and the node: pods, Services, hook
Jobs, events, logs, the CRD, the lock and a Forbidden answer as a real API server gives them; and without
a cluster: the CRD check, a closed port. (The pod/service proxy is proven refused for loopback pod IPs by
the real API server in tests/ops/test_rbac.py, docs/sandbox.md.)"""
from __future__ import annotations

import datetime
import json
import os
import socket
import uuid

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from c7n_upgrade.kube import ClusterUnreachable, JobStillActive, KubeClient, KubeForbidden, LockHeld
from c7n_upgrade.plan import load_plan
from tests.sandbox.test_control_plane import _release, _wait

pytestmark = pytest.mark.sandbox
NS = "kube-client-tests"
HOLD = "c7n.test/hold"   # a finalizer: a deleted pod stays, being deleted


@pytest.fixture(scope="module")
def cluster(control_plane, tmp_path_factory):
    """The node, a namespace of the module's, an admin client (.core, .batch) and KubeClients (.kube())."""
    from c7n_sandbox.node import Node

    node = Node(control_plane.kubeconfig, tmp_path_factory.mktemp("node"), log=print).start()
    api = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig), context="sandbox")
    core, batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    _wait("the namespace's default ServiceAccount", lambda: _exists(core.read_namespaced_service_account, "default"))
    made = []

    def kube(context="sandbox"):
        made.append(KubeClient(kubeconfig=str(control_plane.kubeconfig), context=context, namespace=NS))
        return made[-1]
    yield type("Cluster", (), {"core": core, "batch": batch, "kube": staticmethod(kube), "cp": control_plane})
    for c in made:
        c.close()
    for pod in core.list_namespaced_pod(NS).items:
        if HOLD in (pod.metadata.finalizers or []):
            core.patch_namespaced_pod(pod.metadata.name, NS, {"metadata": {"finalizers": None}})
    core.delete_namespace(NS)
    node.stop()
    core.delete_node(node.name)   # the next module starts with no node
    api.close()


def _exists(read, name) -> bool:
    try:
        read(name, NS)
        return True
    except ApiException:
        return False


def _name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def _pod(core, name, release, version, command="sleep 600", image="busybox:1.36", finalizer=False):
    labels = {"choerodon.io/release": release, "choerodon.io/service": release, "choerodon.io/version": version}
    core.create_namespaced_pod(NS, {"metadata": {"name": name, "labels": labels,
                                                 "finalizers": [HOLD] if finalizer else None},
                                    "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                                        {"name": release, "image": image, "command": ["sh", "-c", command]}]}})


def _job(batch, name, command):
    batch.create_namespaced_job(NS, {"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "x", "image": "busybox:1.36", "command": ["sh", "-c", command]}]}}}})


def test_version_namespace_and_defaults(cluster):
    kube = cluster.kube()
    assert kube.namespace == NS and kube.server_version() == _release()
    assert kube.api_server_url.startswith("https://127.0.0.1:")
    assert kube.namespace_exists(NS) is True and kube.namespace_exists("no-such-namespace") is False
    assert ("get", "namespaces") in kube.calls


def test_pods_of_release_as_the_node_runs_them(cluster):
    kube, release = cluster.kube(), _name("notify")
    _pod(cluster.core, f"{release}-new", release, "0.9.0")
    _pod(cluster.core, f"{release}-old", release, "0.8.0", finalizer=True)
    _pod(cluster.core, f"{release}-nope", release, "0.9.0", image="registry.invalid/nope:1")
    _wait("the new pod Ready", lambda: any(p.ready for p in kube.pods_of_release(release)))
    cluster.core.delete_namespaced_pod(f"{release}-old", NS)
    _wait("the unpullable pod waiting", lambda: {p.name: p for p in kube.pods_of_release(release)}[f"{release}-nope"].waiting)
    pods = {p.name: p for p in kube.pods_of_release(release)}
    new, old, nope = pods[f"{release}-new"], pods[f"{release}-old"], pods[f"{release}-nope"]
    assert (new.ready, new.version, new.phase, new.deleting) == (True, "0.9.0", "Running", False)
    assert new.ip.startswith("127.") and new.service == release == new.release
    assert (new.containers_ready, new.containers_total, new.restart_count) == (1, 1, 0)
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in new.conditions)
    assert old.deleting and old.version == "0.8.0"
    assert not nope.ready and any(r in " ".join(nope.waiting) for r in ("ErrImagePull", "ImagePullBackOff")), nope.waiting
    assert "phase=Pending" in nope.describe()
    assert kube.calls[-1] == ("list", "pods")


def test_service_ports_by_name_and_number(cluster):
    name = _name("register")
    cluster.core.create_namespaced_service(NS, {"metadata": {"name": name}, "spec": {"selector": {"app": name}, "ports": [
        {"name": "http", "port": 8000, "targetPort": 8000}, {"name": "mgmt", "port": 8001, "targetPort": "mgmt"}]}})
    svc = cluster.kube().service(name)
    assert svc.cluster_ip.startswith("127.96.")   # the control plane's service range
    assert svc.ports == {"http": 8000, 8000: 8000, "mgmt": 8001, 8001: 8001}
    assert svc.port("http") == 8000 and svc.port() == 8000
    assert svc.target_ports[8001] == "mgmt"


def test_hook_jobs_finished_found_and_deleted_an_active_one_never(cluster):
    kube, seen = cluster.kube(), []
    done, failed, active = _name("manager-init-db"), _name("devops-init-config"), _name("asgard-init-db")
    _job(cluster.batch, done, "true")
    _job(cluster.batch, failed, "exit 1")
    _job(cluster.batch, active, "sleep 600")
    names = [done, failed, active, "absent-init-db"]
    _wait("two Jobs finished", lambda: len([j for j in kube.hook_jobs(names) if j.finished]) == 2, timeout=60)
    jobs = {j.name: j for j in kube.hook_jobs(names)}
    assert set(jobs) == {done, failed, active}
    assert jobs[done].condition == "Complete" and jobs[failed].condition == "Failed" and not jobs[active].finished
    original = kube.api_client.rest_client.request

    def spy(method, url, headers=None, body=None, **kw):
        seen.append((method, body))
        return original(method, url, headers=headers, body=body, **kw)
    kube.api_client.rest_client.request = spy
    for name in (done, failed):
        assert kube.delete_job(name).name == name
    assert [b for m, b in seen if m == "DELETE"] == [
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}] * 2
    with pytest.raises(JobStillActive, match="still running"):
        kube.delete_job(active)
    assert [j.name for j in kube.hook_jobs(names)] == [active]
    assert kube.delete_job("absent-init-db") is None
    assert ("delete", "jobs.batch") in kube.calls


def test_events_and_log_tail(cluster):
    kube, name = cluster.kube(), _name("devops")
    _pod(cluster.core, name, name, "0.9.3", command="for i in $(seq 0 99); do echo line $i; done; sleep 600")
    _wait("the pod's 100 lines", lambda: kube.pod_log_tail(name, lines=1) == "line 99\n")
    assert kube.pod_log_tail(name, lines=3) == "line 97\nline 98\nline 99\n"
    lines = kube.recent_events(limit=200)
    assert any(f"Normal Started Pod/{name}: " in line for line in lines), lines
    assert any(f"Normal Scheduled Pod/{name}: " in line for line in lines), lines
    assert len(kube.recent_events(limit=2)) == 2
    missing = kube.pod_log_tail("no-such-pod")
    assert "no-such-pod" in missing and "unavailable" in missing


def test_the_crd_on_1_34_is_a_v1_body_that_matches(cluster):
    kube, spec = cluster.kube(), load_plan("0.8-to-0.9").crd
    ext = k8s.ApiextensionsV1Api(cluster.core.api_client)
    assert kube.crd_api_versions() == ["v1"]   # v1beta1 CRDs are not served since 1.22
    try:
        ext.delete_custom_resource_definition(spec.name)
    except ApiException:
        pass
    _wait("no CRD left", lambda: kube.get_crd(spec.name) is None)
    created = kube.create_crd(spec)
    try:
        assert created["apiVersion"] == "apiextensions.k8s.io/v1"
        schema = created["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert schema == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        # the real API server establishes it a moment later (Established=False, Installing, until then)
        _wait("the CRD Established", lambda: kube.crd_matches(kube.get_crd(spec.name), spec) == [])
        assert ("create", "customresourcedefinitions.apiextensions.k8s.io") in kube.calls
    finally:
        ext.delete_custom_resource_definition(spec.name)


def age_lock(core, seconds: int = 600, namespace: str = NS) -> None:
    """Make the lock's holder look frozen: its last renewal `seconds` ago (a live holder is not broken)."""
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    core.patch_namespaced_config_map("c7n-upgrade-lock", namespace, {"metadata": {"annotations": {
        "c7n-upgrade/renewed": old.strftime("%Y-%m-%dT%H:%M:%SZ")}}})


def test_lock_acquire_held_break_release(cluster):
    kube, other = cluster.kube(), cluster.kube()
    first = kube.acquire_lock(owner="alice@bastion")
    assert first.owner == "alice@bastion" and first.pid == str(os.getpid()) and first.since.endswith("Z")
    cm = cluster.core.read_namespaced_config_map("c7n-upgrade-lock", NS)
    assert set(cm.metadata.annotations) == {"c7n-upgrade/owner", "c7n-upgrade/since", "c7n-upgrade/host",
                                            "c7n-upgrade/pid", "c7n-upgrade/renewed"}
    with pytest.raises(LockHeld) as info:
        other.acquire_lock(owner="bob@laptop")
    assert info.value.holder.owner == "alice@bastion" and "--break-lock" in str(info.value)
    assert other.release_lock(owner="bob@laptop") is False and kube.get_lock().owner == "alice@bastion"
    with pytest.raises(LockHeld, match="--break-lock refused"):
        other.acquire_lock(owner="bob@laptop", break_lock=True)
    age_lock(cluster.core)
    broken = other.acquire_lock(owner="bob@laptop", break_lock=True)
    assert broken.owner == "bob@laptop" and broken.broken.owner == "alice@bastion"
    assert kube.release_lock(owner="alice@bastion") is False
    assert other.release_lock(owner="bob@laptop") is True and kube.get_lock() is None


def test_forbidden_names_verb_and_resource(cluster):
    """The read-only identity of deploy/rbac/readonly.yaml has no rights in this namespace."""
    locked = cluster.kube(context="c7n-upgrade-check")
    with pytest.raises(KubeForbidden) as info:
        locked.pods_of_release("iam-service")
    err = info.value
    assert (err.verb, err.resource, err.namespace) == ("list", "pods", NS)
    assert f"list pods in namespace {NS}" in str(err)


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
