"""An operator's kubectl commands against the sandbox's API server and runtime, with kubectl 1.20
(Debian's kubernetes-client, the oldest real kubectl at hand) and kubectl 1.32 (the system's): what
they print is what a cluster would make them print."""
from __future__ import annotations

import re
import subprocess
import threading

import pytest

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import charts
from tests.sandbox.kubectl_output import cells, rolled_out, tables, wait_for
from tests.sandbox.apiserver_objects import GUIDE_CRD_YAML
from tests.sandbox.test_kubeproto import DEPLOYMENT

pytestmark = pytest.mark.sandbox
PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace


def header(*names: str) -> tuple:
    return names


# ------------------------------------------------------------------------------ apply and diff
def test_apply_and_diff_of_the_guides_crd(real_kubectl, tmp_path):
    manifest = tmp_path / "C7NHelmRelease.yaml"
    manifest.write_text(GUIDE_CRD_YAML)
    created = real_kubectl("apply", "-f", str(manifest)).stdout
    assert "customresourcedefinition.apiextensions.k8s.io/c7nhelmreleases.choerodon.io created" in created
    assert real_kubectl("diff", "-f", str(manifest), check=False).returncode == 0
    manifest.write_text(GUIDE_CRD_YAML.replace("    singular: c7nhelmrelease\n",
                                               "    singular: c7nhelmrelease\n    shortNames: [chr]\n"))
    diff = real_kubectl("diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1, diff.stderr
    assert "+    shortNames:" in diff.stdout
    assert "configured" in real_kubectl("apply", "-f", str(manifest)).stdout
    got = real_kubectl("get", "crd").stdout
    assert cells(got.splitlines()[0]) == ["NAME", "CREATED AT"]
    assert re.match(r"c7nhelmreleases\.choerodon\.io\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", got.splitlines()[1])


def test_apply_and_diff_of_a_deployment(real_kubectl, tmp_path, live_cluster):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT)
    assert "deployment.apps/web created" in real_kubectl("apply", "-f", str(manifest)).stdout
    assert 'deployment "web" successfully rolled out' in rolled_out(real_kubectl, "deployment/web")
    manifest.write_text(DEPLOYMENT.replace("replicas: 1", "replicas: 2"))
    diff = real_kubectl("diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1, diff.stderr
    assert "-  replicas: 1" in diff.stdout and "+  replicas: 2" in diff.stdout
    assert live_cluster.store.get("deployments.apps", NS, "web")["spec"]["replicas"] == 1   # diff changed nothing
    assert "deployment.apps/web configured" in real_kubectl("apply", "-f", str(manifest)).stdout
    rolled_out(real_kubectl, "deployment/web")
    assert tables(real_kubectl("get", "deployment", "web").stdout)[header("NAME", "READY", "UP-TO-DATE", "AVAILABLE",
                                                                     "AGE")][0][1:4] == ["2/2", "2", "2"]


# ------------------------------------------------------------------------------ create
def test_create_secret_configmap_deployment_and_job(real_kubectl, live_cluster):
    assert "secret/creds created" in real_kubectl("create", "secret", "generic", "creds",
                                             "--from-literal=password=s3cr3t").stdout
    assert "configmap/settings created" in real_kubectl("create", "configmap", "settings", "--from-literal=mode=fast").stdout
    assert "deployment.apps/idle created" in real_kubectl("create", "deployment", "idle", "--image=nginx:1.19",
                                                     "--port=8080").stdout
    assert "job.batch/once created" in real_kubectl("create", "job", "once", "--image=busybox", "--", "true").stdout
    secret = live_cluster.store.get("secrets", NS, "creds")
    assert secret["type"] == "Opaque" and secret["data"] == {"password": "czNjcjN0"}
    assert live_cluster.store.get("configmaps", NS, "settings")["data"] == {"mode": "fast"}
    container = live_cluster.store.get("deployments.apps", NS, "idle")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.19" and container["ports"][0]["containerPort"] == 8080
    assert live_cluster.store.get("jobs.batch", NS, "once")["spec"]["template"]["spec"]["containers"][0]["command"] == ["true"]
    wait_for(lambda: real_kubectl("get", "job", "once", "-o", "jsonpath={.status.succeeded}").stdout == "1",
             what="the job to complete")
    assert 'deployment "idle" successfully rolled out' in rolled_out(real_kubectl, "deployment/idle")


# ------------------------------------------------------------------------------ get
def test_get_prints_the_columns_of_each_kind(real_kubectl, tmp_path):
    real_kubectl("create", "deployment", "web", "--image=nginx:1.19", "--replicas=2")
    real_kubectl("create", "service", "clusterip", "web", "--tcp=80:8080")
    real_kubectl("create", "secret", "generic", "creds", "--from-literal=a=1", "--from-literal=b=2")
    real_kubectl("create", "configmap", "settings", "--from-literal=mode=fast")
    real_kubectl("create", "job", "once", "--image=busybox")
    rolled_out(real_kubectl, "deployment/web")
    wait_for(lambda: real_kubectl("get", "job", "once", "-o", "jsonpath={.status.succeeded}").stdout == "1")
    got = tables(real_kubectl("get", "deployments,replicasets,services,secrets,configmaps,jobs,pods").stdout)
    deployments = got[header("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")]
    assert deployments[0][:4] == ["deployment.apps/web", "2/2", "2", "2"]
    replicasets = got[header("NAME", "DESIRED", "CURRENT", "READY", "AGE")]
    assert re.fullmatch(r"replicaset\.apps/web-\w{10}", replicasets[0][0]) and replicasets[0][1:4] == ["2", "2", "2"]
    service = got[header("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")][0]
    assert service[0] == "service/web" and service[1] == "ClusterIP" and service[3:5] == ["<none>", "80/TCP"]
    assert re.fullmatch(r"127\.10\.\d+\.\d+", service[2])
    assert got[header("NAME", "TYPE", "DATA", "AGE")][0][:3] == ["secret/creds", "Opaque", "2"]
    assert got[header("NAME", "DATA", "AGE")][0][:2] == ["configmap/settings", "1"]
    assert got[header("NAME", "COMPLETIONS", "DURATION", "AGE")][0][:2] == ["job.batch/once", "1/1"]
    pods = got[header("NAME", "READY", "STATUS", "RESTARTS", "AGE")]
    assert len(pods) == 2 and all(p[1:4] == ["1/1", "Running", "0"] for p in pods)
    namespaces = tables(real_kubectl("get", "namespaces").stdout)[header("NAME", "STATUS", "AGE")]
    assert [NS, "Active"] in [row[:2] for row in namespaces]
    wide = tables(real_kubectl("get", "deployment", "web", "-o", "wide").stdout)
    assert list(wide) == [header("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                                 "SELECTOR")]
    assert list(wide.values())[0][0][5:] == ["nginx", "nginx:1.19", "app=web"]
    events = real_kubectl("get", "events").stdout
    assert cells(events.splitlines()[0]) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert re.search(r"Normal\s+ScalingReplicaSet\s+deployment/web\s+Scaled up replica set web-\w{10} to 2", events)


def test_get_watch_prints_each_change_in_the_kinds_columns(real_kubectl, live_cluster):
    real_kubectl("create", "deployment", "web", "--image=nginx:1.19")
    rolled_out(real_kubectl, "deployment/web")
    watcher = subprocess.Popen([real_kubectl.binary, "get", "deployment", "web", "-w"], env=real_kubectl.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(watcher.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(lines) >= 2, what="the first Table")
        real_kubectl("scale", "deployment/web", "--replicas=2")
        wait_for(lambda: any(cells(line)[:4] == ["web", "2/2", "2", "2"] for line in lines), what="2/2 printed")
    finally:
        watcher.kill()
    assert cells(lines[0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert all(len(cells(line)) == 5 for line in lines[1:]), lines      # every change in the same columns


# ------------------------------------------------------------------------------ describe
def test_describe_pod_lists_its_events_and_a_down_pods_unhealthy_warning(real_kubectl, live_cluster):
    """iam-service without config-server and register-server answers DOWN: the kubelet's readiness
    probe fails, and describe shows the Warning."""
    step = PLAN.step("iam-service")
    for obj in charts.render("iam-service", step.chart, step.from_version, {"env": {"open": {}}}, NS,
                             step.health_port, step.service_port):
        live_cluster.store.create({"Deployment": "deployments.apps", "Service": "services"}[obj["kind"]], obj, NS)
    events = wait_for(lambda: [e for e in live_cluster.store.list("events", NS) if e["reason"] == "Unhealthy"],
                      what="the Unhealthy event")
    pod = events[0]["involvedObject"]["name"]
    assert events[0]["involvedObject"]["uid"] == live_cluster.store.get("pods", NS, pod)["metadata"]["uid"]
    described = real_kubectl("describe", "pod", pod).stdout
    assert re.search(r"Warning\s+Unhealthy\s+.*kubelet.*Readiness probe failed: HTTP probe failed with "
                     r"statuscode: 503", described), described
    assert re.search(rf"Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned {NS}/{pod} to sandbox-node",
                     described)
    assert "Controlled By:  ReplicaSet/iam-service-" in described
    other = [p for p in live_cluster.store.list("pods", NS) if p["metadata"]["name"] != pod]
    assert not other   # so every event shown is this pod's own


# ------------------------------------------------------------------------------ rollout
def test_rollout_status_history_and_undo(real_kubectl, live_cluster):
    real_kubectl("create", "deployment", "web", "--image=nginx:1.19", "--replicas=2")
    assert 'deployment "web" successfully rolled out' in rolled_out(real_kubectl, "deployment/web")
    first = {p["metadata"]["name"] for p in live_cluster.store.list("pods", NS)}
    real_kubectl("set", "image", "deployment/web", "nginx=nginx:1.20")
    status = rolled_out(real_kubectl, "deployment/web")
    assert 'deployment "web" successfully rolled out' in status
    pods = live_cluster.store.list("pods", NS)
    assert len(pods) == 2 and not first & {p["metadata"]["name"] for p in pods}   # every pod replaced
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.20"}
    history = real_kubectl("rollout", "history", "deployment/web").stdout
    assert re.findall(r"^(\d+)\s+<none>$", history, re.M) == ["1", "2"]
    assert "deployment.apps/web rolled back" in real_kubectl("rollout", "undo", "deployment/web").stdout
    rolled_out(real_kubectl, "deployment/web")
    assert re.findall(r"^(\d+)\s+<none>$", real_kubectl("rollout", "history", "deployment/web").stdout, re.M) == ["2", "3"]
    assert real_kubectl("get", "deployment", "web", "-o", "jsonpath={..image}").stdout == "nginx:1.19"
    replicasets = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in live_cluster.store.list("replicasets.apps", NS)}
    assert len(replicasets) == 2, "undo reuses the first ReplicaSet"
    back = replicasets["nginx:1.19"]
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["spec"]["replicas"] == 2 and replicasets["nginx:1.20"]["spec"]["replicas"] == 0
    for pod in live_cluster.store.list("pods", NS):
        owner = pod["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "ReplicaSet" and owner["uid"] == back["metadata"]["uid"] and owner["controller"]


# ------------------------------------------------------------------------------ scale
def test_scale(real_kubectl, live_cluster):
    real_kubectl("create", "deployment", "web", "--image=nginx:1.19")
    rolled_out(real_kubectl, "deployment/web")
    assert "deployment.apps/web scaled" in real_kubectl("scale", "deployment/web", "--replicas=3").stdout
    rolled_out(real_kubectl, "deployment/web")
    assert len(live_cluster.store.list("pods", NS)) == 3
    # with a precondition kubectl reads the Scale first, then writes it back with its resourceVersion
    real_kubectl("scale", "deployment/web", "--current-replicas=3", "--replicas=1")
    wait_for(lambda: len(live_cluster.store.list("pods", NS)) == 1, what="scaled down to 1")
    refused = real_kubectl("scale", "deployment/web", "--current-replicas=5", "--replicas=2", check=False)
    assert refused.returncode != 0 and "Expected replicas to be 5, was 1" in refused.stderr
    assert live_cluster.store.get("deployments.apps", NS, "web")["spec"]["replicas"] == 1


# ------------------------------------------------------------------------------ logs
def test_logs_follow_until_the_pod_ends_and_previous_fails(real_kubectl, live_cluster):
    real_kubectl("create", "deployment", "web", "--image=nginx:1.19", "--port=8080")
    rolled_out(real_kubectl, "deployment/web")
    pod = live_cluster.store.list("pods", NS)[0]["metadata"]["name"]
    previous = real_kubectl("logs", pod, "--previous", check=False)
    assert previous.returncode == 1
    assert f'previous terminated container "nginx" in pod "{pod}" not found' in previous.stderr
    follower = subprocess.Popen([real_kubectl.binary, "logs", "-f", pod], env=real_kubectl.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("started" in line for line in lines), what="the log so far")
        assert follower.poll() is None, "logs -f returned before the pod ended"
        real_kubectl("scale", "deployment/web", "--replicas=0")
        assert follower.wait(timeout=30) == 0, follower.stderr.read()
    finally:
        follower.kill()
    reader.join(5)
    assert any("shutting down (scaled down)" in line for line in lines), lines
