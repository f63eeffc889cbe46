"""The runtime's workload controllers as a cluster's: Deployments own ReplicaSets that own pods (a
rollout scales the new set up and the old one down), and ReplicationControllers, StatefulSets and
DaemonSets run pods; kubectl reads them as it reads a real cluster's. Also the scale subresource,
Table printing, and `logs -f` letting go of a client that left."""
from __future__ import annotations

import json
import socket
import threading
import urllib.request

import pytest
import requests

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import charts
from c7n_upgrade.sandbox.apiserver.server import CONNECTION_THREAD
from tests.sandbox.kubectl_output import rolled_out, tables, wait_for

pytestmark = pytest.mark.sandbox
PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace


def template(app: str, image: str = "nginx:1.19") -> dict:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": app, "image": image, "ports": [{"containerPort": 8080}]}]}}


def apps(kind: str, name: str, replicas: int | None = 1, **spec) -> dict:
    body = {"selector": {"matchLabels": {"app": name}}, "template": template(name), **spec}
    if replicas is not None:
        body["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": body}


def pods_of(store, owner_kind: str, owner_name: str) -> list[dict]:
    return [p for p in store.list("pods", NS)
            if any(r["kind"] == owner_kind and r["name"] == owner_name for r in p["metadata"].get("ownerReferences", []))]


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def rolled_out_to(store, name: str, *, generation: int, replicas: int) -> bool:
    """The Deployment's status says: this generation observed, all replicas updated and available."""
    status = store.get("deployments.apps", NS, name).get("status") or {}
    return (status.get("observedGeneration") == generation and status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas and status.get("replicas") == replicas)


# ------------------------------------------------------------------------------ Deployments
def test_a_deployment_owns_a_replicaset_that_owns_its_pods(live_cluster):
    store = live_cluster.store
    dep = store.create("deployments.apps", apps("Deployment", "web", replicas=2), NS)
    wait_for(lambda: store.get("deployments.apps", NS, "web").get("status", {}).get("availableReplicas") == 2)
    (rs,) = store.list("replicasets.apps", NS)
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}" and len(h) == 10
    assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                  "uid": dep["metadata"]["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert rs["status"] == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                            "observedGeneration": 1}
    pods = pods_of(store, "ReplicaSet", rs["metadata"]["name"])
    assert len(pods) == 2 and all(p["metadata"]["labels"]["pod-template-hash"] == h for p in pods)
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"] for p in pods)
    dep = store.get("deployments.apps", NS, "web")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = dep["status"]
    assert (status["observedGeneration"], status["replicas"], status["updatedReplicas"], status["readyReplicas"],
            status["availableReplicas"]) == (1, 2, 2, 2, 2)
    assert {c["type"]: c["reason"] for c in status["conditions"]} == {
        "Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


def test_a_rollout_scales_the_new_replicaset_up_and_the_old_one_down_within_the_surge(live_cluster):
    store = live_cluster.store
    store.create("deployments.apps", apps("Deployment", "web", replicas=3), NS)
    wait_for(lambda: store.get("deployments.apps", NS, "web").get("status", {}).get("availableReplicas") == 3)
    seen: list[tuple] = []

    def watch(event, resource, obj):   # every ReplicaSet write: (name, spec.replicas)
        if resource == "replicasets.apps":
            seen.append((obj["metadata"]["name"], obj["spec"]["replicas"], event))
    store.subscribe(watch)
    dep = store.get("deployments.apps", NS, "web")
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.20"
    store.replace("deployments.apps", dep, NS)
    wait_for(lambda: rolled_out_to(store, "web", generation=2, replicas=3), what="rolled out")
    store.unsubscribe(watch)
    sets = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs
            for rs in store.list("replicasets.apps", NS)}
    assert sets["1"]["spec"]["replicas"] == 0 and sets["2"]["spec"]["replicas"] == 3
    old, new = sets["1"]["metadata"]["name"], sets["2"]["metadata"]["name"]
    # maxSurge 25% of 3 -> 1, maxUnavailable 0: never more than 4 pods wanted, never fewer than 3
    wanted = {old: 3}
    for name, replicas, _ in seen:
        wanted[name] = replicas
        assert 3 <= sum(wanted.values()) <= 4, seen
    assert wanted == {old: 0, new: 3}
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1.20" for p in store.list("pods", NS))


def test_recreate_removes_every_old_pod_before_the_new_ones(live_cluster):
    store = live_cluster.store
    store.create("deployments.apps", apps("Deployment", "web", replicas=2, strategy={"type": "Recreate"}), NS)
    wait_for(lambda: store.get("deployments.apps", NS, "web").get("status", {}).get("availableReplicas") == 2)
    images: list[set] = []
    store.subscribe(lambda e, r, o: r == "pods" and e == "ADDED" and images.append(
        {p["spec"]["containers"][0]["image"] for p in store.list("pods", NS)}))
    dep = store.get("deployments.apps", NS, "web")
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.20"
    store.replace("deployments.apps", dep, NS)
    wait_for(lambda: rolled_out_to(store, "web", generation=2, replicas=2), what="rolled out")
    assert images and all(seen == {"nginx:1.20"} for seen in images), images   # no new pod beside an old one


def test_a_paused_deployment_starts_no_new_revision_until_resumed(live_cluster):
    store = live_cluster.store
    store.create("deployments.apps", apps("Deployment", "web"), NS)
    wait_for(lambda: rolled_out_to(store, "web", generation=1, replicas=1), what="rolled out")
    store.patch("deployments.apps", NS, "web", {"spec": {"paused": True}}, "merge")
    store.patch("deployments.apps", NS, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.20"}]}}}}, "strategic")
    wait_for(lambda: {c["reason"] for c in store.get("deployments.apps", NS, "web")["status"]["conditions"]}
             >= {"DeploymentPaused"}, what="the paused condition")
    assert len(store.list("replicasets.apps", NS)) == 1
    assert {p["spec"]["containers"][0]["image"] for p in store.list("pods", NS)} == {"nginx:1.19"}
    store.patch("deployments.apps", NS, "web", {"spec": {"paused": False}}, "merge")
    wait_for(lambda: rolled_out_to(store, "web", generation=4, replicas=1)
             and {p["spec"]["containers"][0]["image"] for p in store.list("pods", NS)} == {"nginx:1.20"},
             what="the rollout after resume")
    assert len(store.list("replicasets.apps", NS)) == 2


def test_deleting_a_deployment_takes_its_replicasets_and_pods(live_cluster):
    store = live_cluster.store
    store.create("deployments.apps", apps("Deployment", "web", replicas=2), NS)
    wait_for(lambda: len([p for p in store.list("pods", NS) if ready(p)]) == 2)
    store.delete("deployments.apps", NS, "web")
    wait_for(lambda: not store.list("replicasets.apps", NS) and not store.list("pods", NS),
             what="the ReplicaSet and its pods deleted")


def test_a_choerodon_release_keeps_its_labels_and_version_on_the_replicaset_pods(live_cluster):
    step = PLAN.step("config-server")
    deployment = charts.render("config-server", step.chart, step.from_version, {}, NS, step.health_port,
                               step.service_port)[0]
    live_cluster.store.create("deployments.apps", deployment, NS)
    pod = wait_for(lambda: live_cluster.store.list("pods", NS), what="its pod")[0]   # DOWN alone, but there
    labels = pod["metadata"]["labels"]
    assert labels["choerodon.io/version"] == step.from_version and labels["choerodon.io/release"] == "config-server"
    assert pod["metadata"]["name"].startswith(f"config-server-{labels['pod-template-hash']}-")


# ------------------------------------------------------------------------------ the other workloads
def test_a_statefulset_runs_ordered_stable_pods_and_rolls_from_the_highest(live_cluster, real_kubectl):
    store = live_cluster.store
    store.create("statefulsets.apps", apps("StatefulSet", "db", replicas=3, serviceName="db"), NS)
    assert "roll out complete: 3 new pods have been updated" in rolled_out(real_kubectl, "statefulset/db")
    pods = {p["metadata"]["name"]: p for p in pods_of(store, "StatefulSet", "db")}
    assert sorted(pods) == ["db-0", "db-1", "db-2"]
    assert pods["db-1"]["spec"]["hostname"] == "db-1" and pods["db-1"]["spec"]["subdomain"] == "db"
    created = sorted(pods.values(), key=lambda p: p["metadata"]["resourceVersion"])
    assert [p["metadata"]["name"] for p in created] == ["db-0", "db-1", "db-2"]   # in order
    uids = {n: p["metadata"]["uid"] for n, p in pods.items()}
    order: list[str] = []
    store.subscribe(lambda e, r, o: r == "pods" and e == "DELETED" and order.append(o["metadata"]["name"]))
    sts = store.get("statefulsets.apps", NS, "db")
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.20"
    store.replace("statefulsets.apps", sts, NS)
    assert "roll out complete: 3 new pods have been updated" in rolled_out(real_kubectl, "statefulset/db")
    assert order == ["db-2", "db-1", "db-0"]
    pods = {p["metadata"]["name"]: p for p in pods_of(store, "StatefulSet", "db")}
    assert sorted(pods) == ["db-0", "db-1", "db-2"] and not set(uids.values()) & {p["metadata"]["uid"] for p in
                                                                                 pods.values()}
    status = store.get("statefulsets.apps", NS, "db")["status"]
    assert status["currentRevision"] == status["updateRevision"] and status["readyReplicas"] == 3
    assert tables(real_kubectl("get", "statefulset", "db").stdout)[("NAME", "READY", "AGE")][0][:2] == ["db", "3/3"]


def test_a_daemonset_runs_one_pod_on_the_node_and_replaces_it(live_cluster, real_kubectl):
    store = live_cluster.store
    store.create("daemonsets.apps", apps("DaemonSet", "agent", replicas=None), NS)
    assert 'daemon set "agent" successfully rolled out' in rolled_out(real_kubectl, "daemonset/agent")
    (first,) = pods_of(store, "DaemonSet", "agent")
    assert first["spec"]["nodeName"] == "sandbox-node"
    ds = store.get("daemonsets.apps", NS, "agent")
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.20"
    store.replace("daemonsets.apps", ds, NS)
    assert 'daemon set "agent" successfully rolled out' in rolled_out(real_kubectl, "daemonset/agent")
    (second,) = pods_of(store, "DaemonSet", "agent")
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert second["spec"]["containers"][0]["image"] == "nginx:1.20"


def test_a_replicationcontroller_keeps_its_replicas_and_scales(live_cluster, real_kubectl):
    store = live_cluster.store
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "old", "namespace": NS},
          "spec": {"replicas": 2, "selector": {"app": "old"}, "template": template("old")}}
    store.create("replicationcontrollers", rc, NS)
    wait_for(lambda: len([p for p in pods_of(store, "ReplicationController", "old") if ready(p)]) == 2)
    victim = pods_of(store, "ReplicationController", "old")[0]["metadata"]["name"]
    store.delete("pods", NS, victim)
    wait_for(lambda: len([p for p in pods_of(store, "ReplicationController", "old") if ready(p)]) == 2
             and victim not in {p["metadata"]["name"] for p in store.list("pods", NS)}, what="a replacement pod")
    assert "replicationcontroller/old scaled" in real_kubectl("scale", "rc/old", "--replicas=1").stdout
    wait_for(lambda: len(pods_of(store, "ReplicationController", "old")) == 1)
    row = tables(real_kubectl("get", "rc", "old").stdout)[("NAME", "DESIRED", "CURRENT", "READY", "AGE")][0]
    wait_for(lambda: tables(real_kubectl("get", "rc", "old").stdout)[("NAME", "DESIRED", "CURRENT", "READY", "AGE")][0][
        1:4] == ["1", "1", "1"], what="the rc's columns")
    assert row[0] == "old"


# ------------------------------------------------------------------------------ the API's parts
def test_the_scale_subresource_is_an_autoscaling_v1_scale(live_cluster):
    store = live_cluster.store
    store.create("deployments.apps", apps("Deployment", "web", replicas=2), NS)
    url = live_cluster.url
    path = f"{url}/apis/apps/v1/namespaces/{NS}/deployments/web/scale"
    scale = requests.get(path, timeout=10).json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2} and scale["status"]["selector"] == "app=web"
    stale = dict(scale, spec={"replicas": 5}, metadata=dict(scale["metadata"], resourceVersion="1"))
    assert requests.put(path, json=stale, timeout=10).status_code == 409
    patched = requests.patch(path, json={"spec": {"replicas": 4}}, timeout=10,
                             headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200 and patched.json()["spec"]["replicas"] == 4
    assert store.get("deployments.apps", NS, "web")["spec"]["replicas"] == 4
    assert requests.patch(path, json={"spec": {"replicas": -1}}, timeout=10,
                          headers={"Content-Type": "application/merge-patch+json"}).status_code == 422
    resources = requests.get(f"{url}/apis/apps/v1", timeout=10).json()["resources"]
    entry = next(r for r in resources if r["name"] == "deployments/scale")
    assert (entry["group"], entry["version"], entry["kind"]) == ("autoscaling", "v1", "Scale")


def test_a_watch_from_a_listed_version_gets_the_change_made_in_between(live_cluster):
    """What `kubectl rollout status` and helm's hook wait do: list, then watch from the list's version;
    a status written between the two calls must reach the watch (else they wait until their timeout)."""
    store = live_cluster.store
    store.create("configmaps", {"metadata": {"name": "c1"}, "data": {"a": "1"}}, NS)
    path = f"{live_cluster.url}/api/v1/namespaces/{NS}/configmaps"
    listed = requests.get(path, timeout=10).json()["metadata"]["resourceVersion"]
    store.patch("configmaps", NS, "c1", {"data": {"a": "2"}}, "merge")
    with requests.get(path, params={"watch": "1", "resourceVersion": listed, "timeoutSeconds": "1"},
                      stream=True, timeout=10) as resp:
        events = [json.loads(line) for line in resp.iter_lines() if line]
    assert [(e["type"], e["object"]["data"]["a"]) for e in events] == [("MODIFIED", "2")]


def test_a_log_follower_that_leaves_is_let_go(live_cluster):
    """`logs -f` of a pod that keeps running: when the client hangs up, the server stops streaming."""
    store = live_cluster.store
    store.create("deployments.apps", apps("Deployment", "web"), NS)
    pod = wait_for(lambda: [p for p in store.list("pods", NS) if ready(p)])[0]["metadata"]["name"]
    url = live_cluster.url
    host, port = urllib.request.urlparse(url).hostname, urllib.request.urlparse(url).port

    def streaming() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == CONNECTION_THREAD]

    assert not streaming()
    client = socket.create_connection((host, port), timeout=10)
    client.sendall(f"GET /api/v1/namespaces/{NS}/pods/{pod}/log?follow=true HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    first = client.recv(65536).decode()
    assert first.startswith("HTTP/1.1 200") and "chunked" in first.lower()
    assert len(streaming()) == 1                # the server is still following the log
    client.close()
    wait_for(lambda: not streaming(), timeout=10, what="the server to notice the client left")


def test_the_sandbox_helms_wait_returns_once_the_rollout_is_done(tmp_path):
    """The sandbox's own `helm upgrade --wait` waits as `kubectl rollout status` does: every pod new and
    Ready, the old one gone (a stale status from before the upgrade does not count)."""
    from c7n_upgrade.sandbox.runtime import Runtime
    from tests.sandbox.helm_harness import HelmHarness

    box = HelmHarness(tmp_path, 3)
    runtime = Runtime(box.store, tmp_path, PLAN, NS, start_delay=(0.3, 0.4), readiness_interval=0.05).start()
    try:
        box.helm("repo", "add", "c7n", box.repo_url, ok=True)
        box.install("register-server", "go-register-server", "0.8.0", "--wait", ok=True)
        before = {p["metadata"]["name"] for p in box.store.list("pods", NS)}
        box.upgrade("register-server", "go-register-server", "0.9.0", "--wait", "--timeout", "60s", ok=True)
        pods = box.store.list("pods", NS)
        assert pods and not before & {p["metadata"]["name"] for p in pods}
        assert all(ready(p) and p["metadata"]["labels"]["choerodon.io/version"] == "0.9.0" for p in pods)
    finally:
        runtime.stop()
        box.server.stop()
