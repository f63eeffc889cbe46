"""KubeClient against the sandbox API server (the real `kubernetes` client over loopback HTTP)."""
from __future__ import annotations

import json
import os
import socket
from http.server import BaseHTTPRequestHandler

import pytest

from c7n_upgrade.kube import (
    ClusterUnreachable,
    JobStillActive,
    KubeClient,
    KubeForbidden,
    LockHeld,
)
from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from tests.local_http import serving

NS = "choerodon-devops-prod"


def _serve_api(tmp_path, kube_minor=15, **kwargs):
    store = Store()
    server = ApiServer(store, kube_minor=kube_minor, **kwargs)
    url = server.start()
    kubeconfig = tmp_path / f"kubeconfig-{kube_minor}"
    write_kubeconfig(str(kubeconfig), url, NS)
    return store, server, url, kubeconfig


@pytest.fixture
def api(tmp_path):
    logs = {}

    def log_provider(namespace, name, tail):
        lines = logs.get(name, "").splitlines()
        if tail:
            lines = lines[-tail:]
        return "\n".join(lines) + ("\n" if lines else "")

    store, server, url, kubeconfig = _serve_api(tmp_path, log_provider=log_provider)
    kube = KubeClient(kubeconfig=kubeconfig)
    kube.test_store, kube.test_logs, kube.test_server = store, logs, server
    try:
        yield kube
    finally:
        kube.close()
        server.stop()


def make_pod(store, name, release, version, *, ip=None, ready=True, ports=(), service=None, deleting=False):
    labels = {"choerodon.io/release": release, "choerodon.io/service": service or release,
              "choerodon.io/version": version, "choerodon.io/metrics-port": "8081"}
    pod = {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": release, "image": f"registry/{release}:{version}",
                                 "ports": [{"containerPort": p, "name": f"p{p}"} for p in ports]}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": release, "ready": ready, "restartCount": 2,
                                   "state": {"running": {}} if ready else {"waiting": {"reason": "ContainerCreating"}}}],
        },
    }
    created = store.create("pods", pod, NS)
    if deleting:
        created["metadata"]["deletionTimestamp"] = "2019-01-01T00:00:00Z"
        created = store.replace("pods", created, NS)
    return created


def make_job(store, name, *, succeeded=0, active=0, condition=None):
    job = {"metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [{"name": "x", "image": "x"}]}}}}
    store.create("jobs.batch", job, NS)
    status = {"succeeded": succeeded, "active": active}
    if condition:
        status["conditions"] = [{"type": condition, "status": "True"}]
    store.update_status("jobs.batch", NS, name, status)


# --------------------------------------------------------------------------- basics


def test_version_namespace_and_defaults(api):
    assert api.namespace == NS  # from the kubeconfig context
    assert api.server_version() == "v1.15.12"
    assert api.api_server_url.startswith("http://127.0.0.1:")
    assert api.namespace_exists(NS) is True
    assert api.namespace_exists("no-such-namespace") is False
    assert ("get", "namespaces") in api.calls


def test_pods_of_release_uses_the_release_label(api):
    store = api.test_store
    make_pod(store, "notify-service-new", "notify-service", "0.9.0", ip="127.20.0.5")
    make_pod(store, "notify-service-old", "notify-service", "0.8.0", ip="127.20.0.4", ready=False, deleting=True)
    make_pod(store, "iam-service-1", "iam-service", "0.9.0", ip="127.20.0.6")
    pods = {p.name: p for p in api.pods_of_release("notify-service")}
    assert set(pods) == {"notify-service-new", "notify-service-old"}
    new, old = pods["notify-service-new"], pods["notify-service-old"]
    assert (new.ready, new.version, new.ip, new.phase, new.deleting) == (True, "0.9.0", "127.20.0.5", "Running", False)
    assert new.service == "notify-service" and new.release == "notify-service"
    assert (new.containers_ready, new.containers_total, new.restart_count) == (1, 1, 2)
    assert {"type": "Ready", "status": "True"} in new.conditions
    assert (old.ready, old.version, old.deleting) == (False, "0.8.0", True)
    assert old.waiting == ["notify-service: waiting ContainerCreating"]
    assert "phase=Running" in old.describe()
    assert api.calls[-1] == ("list", "pods")


def test_service_ports_by_name_and_number(api):
    api.test_store.create("services", {"metadata": {"name": "register-server"}, "spec": {
        "ports": [{"name": "http", "port": 8000, "targetPort": 8000}, {"port": 8001, "targetPort": "mgmt"}]}}, NS)
    svc = api.service("register-server")
    assert svc.cluster_ip.startswith("127.10.")
    assert svc.ports == {"http": 8000, 8000: 8000, 8001: 8001}
    assert svc.port("http") == 8000 and svc.port() == 8000
    assert svc.target_ports[8001] == "mgmt"


# --------------------------------------------------------------------------- hook jobs


def test_finished_hook_jobs_found_and_deleted(api):
    store = api.test_store
    make_job(store, "manager-service-init-db", succeeded=1)
    make_job(store, "devops-service-init-config", condition="Failed")
    make_job(store, "devops-service-init-db", active=1)
    names = ["manager-service-init-db", "devops-service-init-config", "devops-service-init-db", "absent-init-db"]
    finished = [job for job in api.hook_jobs(names) if job.finished]
    assert [j.name for j in finished] == ["manager-service-init-db", "devops-service-init-config"]
    assert finished[1].condition == "Failed" and finished[1].finished
    assert [j.name for j in api.hook_jobs(names)] == names[:3]

    for job in finished:
        assert api.delete_job(job.name).name == job.name
    assert [job.name for job in api.hook_jobs(names)] == ["devops-service-init-db"]
    assert api.delete_job("absent-init-db") is None
    assert ("delete", "jobs.batch") in api.calls


def test_active_job_is_never_deleted(api):
    make_job(api.test_store, "asgard-service-init-db", active=1)
    with pytest.raises(JobStillActive, match="still running"):
        api.delete_job("asgard-service-init-db")
    assert api.test_store.get("jobs.batch", NS, "asgard-service-init-db")
    assert ("delete", "jobs.batch") not in api.calls


def test_delete_job_uses_background_propagation(api):
    seen = []
    original = api.api_client.rest_client.request

    def spy(method, url, headers=None, body=None, **kw):
        seen.append((method, body))
        return original(method, url, headers=headers, body=body, **kw)

    api.api_client.rest_client.request = spy
    make_job(api.test_store, "wiki-service-init-db", succeeded=1)
    api.delete_job("wiki-service-init-db")
    deletes = [b for m, b in seen if m == "DELETE"]
    assert deletes == [{"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}]


# --------------------------------------------------------------------------- events, logs


def test_events_and_log_tail(api):
    store = api.test_store
    for i, (name, reason) in enumerate([("devops-service-abc", "Unhealthy"), ("iam-service-x", "Pulled"),
                                        ("devops-service-abc", "BackOff")]):
        store.create("events", {"metadata": {"name": f"ev{i}"}, "involvedObject": {"kind": "Pod", "name": name},
                                "reason": reason, "message": f"message {i}", "type": "Warning",
                                "lastTimestamp": f"2019-01-01T00:00:0{i}Z", "count": i + 1}, NS)
    lines = api.recent_events(limit=10)
    assert len(lines) == 3
    assert lines[0] == "2019-01-01T00:00:00Z Warning Unhealthy Pod/devops-service-abc: message 0"
    assert lines[1].endswith("Pod/iam-service-x: message 1 (x2)")
    assert lines[2].endswith("message 2 (x3)")
    assert len(api.recent_events(limit=2)) == 2 and "BackOff" in api.recent_events(limit=1)[0]

    make_pod(store, "devops-service-abc", "devops-service", "0.9.3")
    api.test_logs["devops-service-abc"] = "\n".join(f"line {i}" for i in range(100))
    tail = api.pod_log_tail("devops-service-abc", lines=3)
    assert tail == "line 97\nline 98\nline 99\n"
    missing = api.pod_log_tail("no-such-pod")
    assert "no-such-pod" in missing and "unavailable" in missing


# --------------------------------------------------------------------------- CRD


@pytest.fixture
def crd_spec():
    return load_plan("0.8-to-0.9").crd


def test_crd_on_a_1_15_cluster_uses_the_guides_v1beta1_body(api, crd_spec):
    assert api.crd_api_versions() == ["v1beta1"]
    assert api.get_crd(crd_spec.name) is None
    api.create_crd(crd_spec)
    stored = api.test_store.get("customresourcedefinitions.apiextensions.k8s.io", None, crd_spec.name)
    assert stored["apiVersion"] == "apiextensions.k8s.io/v1beta1"
    # exactly the guide's YAML: group, names, scope, version
    assert stored["spec"]["group"] == "choerodon.io"
    assert stored["spec"]["version"] == "v1alpha1"
    assert stored["spec"]["names"] == {"kind": "C7NHelmRelease", "listKind": "C7NHelmReleaseList",
                                       "plural": "c7nhelmreleases", "singular": "c7nhelmrelease"}
    body = KubeClient.crd_body(crd_spec, "v1beta1")
    assert body["spec"] == {"group": "choerodon.io", "names": crd_spec.names, "scope": "Namespaced", "version": "v1alpha1"}
    crd = api.get_crd(crd_spec.name)
    assert crd is not None and api.crd_matches(crd, crd_spec) == []
    assert ("create", "customresourcedefinitions.apiextensions.k8s.io") in api.calls


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


@pytest.mark.parametrize("kube_minor, expected_versions, created_as", [
    (18, ["v1", "v1beta1"], "v1beta1"),
    (22, ["v1"], "v1"),
])
def test_crd_on_newer_clusters(tmp_path, crd_spec, kube_minor, expected_versions, created_as):
    store, server, url, kubeconfig = _serve_api(tmp_path, kube_minor=kube_minor)
    try:
        kube = KubeClient(kubeconfig=kubeconfig)
        assert kube.crd_api_versions() == expected_versions
        assert kube.get_crd(crd_spec.name) is None
        created = kube.create_crd(crd_spec)
        assert created["apiVersion"] == f"apiextensions.k8s.io/{created_as}"
        if created_as == "v1":
            schema = created["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            assert schema == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        crd = kube.get_crd(crd_spec.name)
        assert crd["apiVersion"] == f"apiextensions.k8s.io/{expected_versions[0]}"
        assert kube.crd_matches(crd, crd_spec) == []
        kube.close()
    finally:
        server.stop()


# --------------------------------------------------------------------------- lock


def age_lock(store, seconds: int = 600) -> None:
    """Make the lock's holder look frozen: its last renewal `seconds` ago (a live holder is not broken)."""
    import datetime

    cm = store.get("configmaps", NS, "c7n-upgrade-lock")
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    cm["metadata"]["annotations"]["c7n-upgrade/renewed"] = old.strftime("%Y-%m-%dT%H:%M:%SZ")
    store.replace("configmaps", cm, NS)


def test_lock_acquire_held_break_release(api, tmp_path):
    first = api.acquire_lock(owner="alice@bastion")
    assert first.owner == "alice@bastion" and first.pid == str(os.getpid()) and first.since.endswith("Z")
    cm = api.test_store.get("configmaps", NS, "c7n-upgrade-lock")
    assert cm["metadata"]["annotations"]["c7n-upgrade/owner"] == "alice@bastion"
    assert set(cm["metadata"]["annotations"]) == {"c7n-upgrade/owner", "c7n-upgrade/since", "c7n-upgrade/host",
                                                  "c7n-upgrade/pid", "c7n-upgrade/renewed"}

    # a second run (another client, another owner) is refused and told who holds it
    other = KubeClient(kubeconfig=api.kubeconfig)
    with pytest.raises(LockHeld) as info:
        other.acquire_lock(owner="bob@laptop")
    err = info.value
    assert err.holder.owner == "alice@bastion" and err.holder.since == first.since
    assert "alice@bastion" in str(err) and "--break-lock" in str(err)

    # bob cannot release alice's lock
    assert other.release_lock(owner="bob@laptop") is False
    assert api.get_lock().owner == "alice@bastion"

    # a holder alive here and renewing is not broken (--break-lock refuses a live run)
    with pytest.raises(LockHeld, match="--break-lock refused"):
        other.acquire_lock(owner="bob@laptop", break_lock=True)
    # breaking it on purpose, once alice stopped renewing (frozen), records the broken holder
    age_lock(api.test_store)
    broken = other.acquire_lock(owner="bob@laptop", break_lock=True)
    assert broken.owner == "bob@laptop"
    assert broken.broken is not None and broken.broken.owner == "alice@bastion"
    assert api.get_lock().owner == "bob@laptop"
    assert api.release_lock(owner="alice@bastion") is False  # alice no longer owns it
    assert other.release_lock(owner="bob@laptop") is True
    assert api.get_lock() is None
    assert other.release_lock(owner="bob@laptop") is False
    other.close()


# --------------------------------------------------------------------------- errors


def test_closed_port_is_cluster_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    kubeconfig = tmp_path / "kubeconfig-closed"
    write_kubeconfig(str(kubeconfig), url, NS)
    kube = KubeClient(kubeconfig=kubeconfig)
    with pytest.raises(ClusterUnreachable) as info:
        kube.server_version()
    assert url in str(info.value)
    with pytest.raises(ClusterUnreachable):
        kube.pods_of_release("register-server")
    assert "unavailable" in kube.pod_log_tail("x")  # never raises


def test_forbidden_names_verb_and_resource(api):
    def deny(method, path, query, headers, body):
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                  "message": 'pods is forbidden: User "x" cannot list resource "pods" in namespace "locked"'}
        return 403, {"Content-Type": "application/json"}, json.dumps(status).encode()

    api.test_server.mount("/api/v1/namespaces/locked/", deny)
    locked = KubeClient(kubeconfig=api.kubeconfig, namespace="locked")
    with pytest.raises(KubeForbidden) as info:
        locked.pods_of_release("iam-service")
    err = info.value
    assert (err.verb, err.resource, err.namespace) == ("list", "pods", "locked")
    assert "list pods in namespace locked" in str(err)
    locked.close()


# --------------------------------------------------------------------------- proxy


@pytest.fixture
def pod_http():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/health"):
                status, body = (200, {"status": "UP", "path": self.path}) if "down" not in self.path else (503, {"status": "DOWN"})
            else:
                status, body = 404, {"error": "not found"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    with serving(Handler) as port:
        yield port


def test_proxy_get_reaches_the_pod(api, pod_http):
    make_pod(api.test_store, "config-server-1", "config-server", "0.9.0", ip="127.0.0.1", ports=(pod_http,))
    status, headers, body = api.proxy_get("config-server-1", pod_http, "/health", timeout=5)
    assert status == 200
    assert json.loads(body) == {"status": "UP", "path": "/health"}
    assert headers.get("Content-Type") == "application/json"
    # a DOWN answer (503) is returned, not raised: it is an observation
    status, _, body = api.proxy_get("config-server-1", pod_http, "/health/down?x=1", timeout=5)
    assert status == 503 and json.loads(body)["status"] == "DOWN"
    assert ("get", "pods/proxy") in api.calls


def test_proxy_service_get(api, pod_http):
    api.test_store.create("services", {"metadata": {"name": "config-server"}, "spec": {
        "clusterIP": "127.0.0.1", "ports": [{"name": "http", "port": pod_http}]}}, NS)
    status, _, body = api.proxy_service_get("config-server", pod_http, "/health", timeout=5)
    assert status == 200 and json.loads(body)["status"] == "UP"


def test_proxy_to_a_pod_that_does_not_answer(api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    make_pod(api.test_store, "dead-1", "dead", "0.9.0", ip="127.0.0.1", ports=(port,))
    status, _, body = api.proxy_get("dead-1", port, "/health", timeout=5)
    assert status == 503 and b"error trying to reach" in body
