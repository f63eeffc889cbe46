"""The cluster's own objects and the kubelet for pods the runtime did not create, through the official
client (and kubectl 1.32) against an API server with a runtime: one Ready node, a `default`
ServiceAccount in every namespace, Endpoints from Services and Ready pods, Services' status, bare
pods' phases."""
from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes import watch
from kubernetes.client.rest import ApiException

from .kubectl_output import cells
from .running_cluster import NS, cluster, kubeconfig, phase, pod, running, wait_for  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sandbox


# ---------------------------------------------------------------- node, service accounts, services

def test_the_cluster_has_one_ready_node_the_pods_run_on(cluster):
    core, _, _ = cluster
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["sandbox-node"]
    ready = next(c for c in nodes[0].status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("True", "KubeletReady")
    assert nodes[0].status.node_info.kubelet_version == "v1.15.12"
    core.create_namespaced_pod(NS, pod("runs", ["sleep", "infinity"]))
    assert wait_for(lambda: core.read_namespaced_pod("runs", NS).spec.node_name, "scheduled") == "sandbox-node"


def test_every_namespace_has_a_default_service_account_also_later_ones(cluster):
    core, _, _ = cluster
    for ns in ("default", "kube-system", NS):
        assert wait_for(lambda: _default_sa(core, ns), f"default ServiceAccount in {ns}")
    core.create_namespace({"metadata": {"name": "created-later"}})
    wait_for(lambda: _default_sa(core, "created-later"), "default ServiceAccount in a new namespace")
    core.delete_namespaced_service_account("default", "created-later")
    wait_for(lambda: _default_sa(core, "created-later"), "the deleted default ServiceAccount comes back")


def _default_sa(core, ns):
    try:
        return core.read_namespaced_service_account("default", ns)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_services_get_an_empty_load_balancer_status(cluster):
    core, _, _ = cluster
    svc = core.create_namespaced_service(NS, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    assert svc.status.load_balancer is not None and svc.status.load_balancer.ingress is None
    assert core.read_namespaced_service_status("web", NS).to_dict()["status"] == {
        "conditions": None, "load_balancer": {"ingress": None}}


def test_endpoints_follow_the_services_and_their_ready_pods(cluster):
    core, _, _ = cluster
    core.create_namespaced_service(NS, {"metadata": {"name": "web", "labels": {"team": "a"}}, "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    core.create_namespaced_pod(NS, pod("web-1", ["sleep", "infinity"], labels={"app": "web"},
                                       ports=[{"name": "http", "containerPort": 8080}]))
    core.create_namespaced_pod(NS, pod("web-done", ["true"], labels={"app": "web"}, policy="Never",
                                       ports=[{"name": "http", "containerPort": 8080}]))
    # a Choerodon service without register-server: health DOWN, so never Ready
    core.create_namespaced_pod(NS, pod("web-down", image="registry.example/choerodon/config-server:0.9.0",
                                       labels={"app": "web"}, ports=[{"name": "http", "containerPort": 8010}]))

    def subsets():
        ep = core.read_namespaced_endpoints("web", NS)
        ready = {(a.target_ref.name, p.port) for s in ep.subsets or [] for a in s.addresses or [] for p in s.ports}
        unready = {(a.target_ref.name, p.port) for s in ep.subsets or [] for a in s.not_ready_addresses or []
                   for p in s.ports}
        return ready, unready

    wait_for(lambda: phase(core, "web-done") == "Succeeded", "the completing pod succeeds")
    assert wait_for(lambda: subsets() == ({("web-1", 8080)}, {("web-down", 8010)}) and subsets(),
                    "Ready pod in addresses, the DOWN one in notReadyAddresses, the finished one gone")
    ep = core.read_namespaced_endpoints("web", NS)
    assert ep.metadata.labels == {"team": "a"} and ep.subsets[0].ports[0].name == "http"
    core.delete_namespaced_pod("web-1", NS)
    wait_for(lambda: subsets() == (set(), {("web-down", 8010)}), "a deleted pod leaves the endpoints")
    core.delete_namespaced_service("web", NS)
    wait_for(lambda: not core.list_namespaced_endpoints(NS).items, "the Service's endpoints go with it")


# ---------------------------------------------------------------- bare pods

def test_a_bare_pod_runs_and_a_completing_one_succeeds(cluster):
    core, _, runtime = cluster
    rv = core.list_namespaced_pod(NS).metadata.resource_version
    core.create_namespaced_pod(NS, pod("job-like", ["sh", "-c", "echo migrated; exit 0"], policy="Never"))
    core.create_namespaced_pod(NS, pod("failing", ["sh", "-c", "exit 3"], policy="Never"))
    core.create_namespaced_pod(NS, pod("server", image="registry.example/nginx:1.25"))
    phases = {}
    for event in watch.Watch().stream(core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=20):
        p = event["object"]
        if p.status and p.status.phase and phases.setdefault(p.metadata.name, [])[-1:] != [p.status.phase]:
            phases[p.metadata.name].append(p.status.phase)
        if phases.get("job-like", [])[-1:] == ["Succeeded"] and phases.get("failing", [])[-1:] == ["Failed"]:
            break
    assert phases["job-like"] == ["Pending", "Running", "Succeeded"]
    assert phases["failing"] == ["Pending", "Running", "Failed"]
    failed = core.read_namespaced_pod("failing", NS).status.container_statuses[0].state.terminated
    assert (failed.exit_code, failed.reason) == (3, "Error")
    assert core.read_namespaced_pod_log("job-like", NS) == "migrated\n"
    server = core.read_namespaced_pod("server", NS)      # no command: the image's server, it stays up
    assert server.status.phase == "Running" and server.status.container_statuses[0].ready
    assert server.status.pod_ip.startswith("127.20.")


def test_a_bare_pod_of_a_pinned_image_runs_the_images_version_under_a_newer_label(cluster):
    """As a Deployment's pod does: the image's tag is what runs, whatever choerodon.io/version says."""
    core, _, _ = cluster
    core.create_namespaced_pod(NS, pod("pinned", image="registry.example/choerodon/iam-service:0.8.0",
                                       labels={"choerodon.io/version": "0.9.0"},
                                       ports=[{"containerPort": 8030}, {"containerPort": 8031}]))
    ip = running(core, "pinned")
    info = wait_for(lambda: _get_json(f"http://{ip}:8031/info"), "the pod answers /info")
    assert info["build"]["version"] == "0.8.0"
    assert core.read_namespaced_pod("pinned", NS).metadata.labels["choerodon.io/version"] == "0.9.0"


def _get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def test_an_exiting_container_under_restart_policy_always_backs_off(cluster):
    core, _, _ = cluster
    core.create_namespaced_pod(NS, pod("crashes", ["sh", "-c", "exit 1"]))
    status = wait_for(lambda: next((s for s in core.read_namespaced_pod("crashes", NS).status.container_statuses or []
                                    if s.restart_count), None), "a restart")
    assert status.state.waiting.reason == "CrashLoopBackOff" and status.last_state.terminated.exit_code == 1
    assert phase(core, "crashes") == "Running"


def test_a_pod_for_another_node_stays_pending(cluster):
    core, _, _ = cluster
    core.create_namespaced_pod(NS, {"metadata": {"name": "elsewhere"}, "spec": {
        "nodeName": "node-2", "containers": [{"name": "c", "image": "x", "command": ["true"]}]}})
    core.create_namespaced_pod(NS, pod("here", ["true"], policy="Never"))
    wait_for(lambda: phase(core, "here") == "Succeeded", "the pod on the sandbox's node ran")
    elsewhere = core.read_namespaced_pod("elsewhere", NS)
    assert (elsewhere.status.phase, elsewhere.status.qos_class, elsewhere.status.pod_ip) == ("Pending", "BestEffort", None)


def test_kubectl_gets_nodes_service_accounts_and_endpoints(cluster, kubectl):
    core, _, _ = cluster
    core.create_namespaced_service(NS, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    core.create_namespaced_pod(NS, pod("web-1", ["sleep", "infinity"], labels={"app": "web"}))
    ip = wait_for(lambda: phase(core, "web-1") == "Running" and core.read_namespaced_pod("web-1", NS).status.pod_ip,
                  "the pod runs")
    assert kubectl("get", "nodes", "-o", "name").stdout == "node/sandbox-node\n"
    assert wait_for(lambda: kubectl("get", "sa", "-o", "name").stdout, "the default account") == \
        "serviceaccount/default\n"
    jsonpath = "{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}"
    assert wait_for(lambda: kubectl("get", "endpoints", "web", "-o", f"jsonpath={jsonpath}").stdout == f"{ip}:8080",
                    "the pod in the endpoints")
    assert kubectl("get", "endpoints", "--no-headers").stdout.split()[0] == "web"     # (columns: tables.py)


def test_kubectl_prints_nodes_and_service_accounts_in_their_columns(cluster, kubectl):
    """`kubectl get nodes -o wide` and `get sa` show the printers' columns, not only NAME and AGE."""
    header, node = (cells(line) for line in kubectl("get", "nodes", "-o", "wide").stdout.splitlines())
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                      "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert node[:3] == ["sandbox-node", "Ready", "master"] and node[4:7] == ["v1.15.12", "127.0.0.1", "<none>"]
    listing = wait_for(lambda: kubectl("get", "sa", "-n", NS).stdout.splitlines(), "the default account")
    assert [cells(line)[:2] for line in listing] == [["NAME", "SECRETS"], ["default", "0"]]
