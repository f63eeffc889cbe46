"""The sandbox's node (issue 16) on the real control plane: generic containers run as processes of
this machine, and what they do shows in Kubernetes' own objects (pod status, Job conditions, Events)
and through `kubectl logs`, with kubectl 1.32 and 1.20 and the official Python client."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config

from tests.sandbox.test_control_plane import _wait

pytestmark = pytest.mark.sandbox

NS = "node-tests"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def node(control_plane, tmp_path_factory):
    """One node for the module, with the kubelet's own back-off (10 s, doubling)."""
    from c7n_sandbox.node import Node
    started = time.monotonic()
    node = Node(control_plane.kubeconfig, tmp_path_factory.mktemp("node"), log=print).start()
    node.ready_s = time.monotonic() - started
    control_plane.kubectl("create", "namespace", NS)
    _wait("the default ServiceAccount of the test namespace",
          lambda: control_plane.kubectl("get", "serviceaccount", "default", "-n", NS).returncode == 0)
    yield node
    control_plane.kubectl("delete", "namespace", NS, "--wait=false")
    node.stop()
    control_plane.kubectl("delete", "node", node.name, "--wait=false")  # the next module starts with no node


@pytest.fixture(scope="module")
def core(control_plane):
    api = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig), context="sandbox")
    yield k8s.CoreV1Api(api)
    api.close()


@pytest.fixture(scope="module")
def apis(control_plane):
    api = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig), context="sandbox")
    yield api
    api.close()


def _json(response) -> dict:
    return json.loads(response.data)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _pod(core, name: str) -> dict:
    return _json(core.read_namespaced_pod(name, NS, _preload_content=False))


def _pods(core, selector: str) -> list[dict]:
    return _json(core.list_namespaced_pod(NS, label_selector=selector, _preload_content=False))["items"]


def _events(core, pod: str) -> list[dict]:
    return _json(core.list_namespaced_event(NS, field_selector=f"involvedObject.name={pod}",
                                            _preload_content=False))["items"]


def _container(name, command=None, image="busybox:1.36", **extra) -> dict:
    spec = {"name": name, "image": image, **extra}
    if command:
        spec["command"] = command
    return spec


def _deployment(apis, name: str, container: dict, replicas: int = 1) -> None:
    labels = {"app": name}
    k8s.AppsV1Api(apis).create_namespaced_deployment(NS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}},
        _preload_content=False)


def _kubectl_binary(which: str) -> str:
    if which == "1.20":
        from tests.real_tools import real_tool
        return str(real_tool("kubectl-1.20"))
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail("kubectl (1.32) is not on PATH: this test drives the system's kubectl", pytrace=False)
    return binary


def _kubectl(control_plane, tmp_path, which, *args, input=None):
    env = dict(os.environ, HOME=str(tmp_path), KUBECACHEDIR=str(tmp_path / f"kube-cache-{which}"))
    return subprocess.run([_kubectl_binary(which), f"--kubeconfig={control_plane.kubeconfig}", "-n", NS, *args],
                          input=input, capture_output=True, text=True, timeout=60, env=env)


def test_the_node_is_ready_schedulable_and_keeps_its_lease(node, core, apis):
    got = _json(core.read_node(node.name, _preload_content=False))
    ready = {c["type"]: c["status"] for c in got["status"]["conditions"]}
    assert ready["Ready"] == "True" and not got["spec"].get("taints"), got
    assert got["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"
    assert got["status"]["addresses"] == [{"type": "InternalIP", "address": "127.0.0.1"}]
    assert got["spec"]["podCIDRs"] == ["127.77.0.0/16"]
    lease = _json(k8s.CoordinationV1Api(apis).read_namespaced_lease(node.name, "kube-node-lease",
                                                                    _preload_content=False))
    assert lease["spec"]["holderIdentity"] == node.name and lease["spec"]["leaseDurationSeconds"] == 40
    assert node.ready_s < 30


def test_a_job_whose_command_exits_3_fails(node, core, apis, control_plane, tmp_path):
    name = _name("hook")
    k8s.BatchV1Api(apis).create_namespaced_job(NS, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            _container("init-db", ["sh", "-c", "echo boom; exit 3"],
                       terminationMessagePolicy="FallbackToLogsOnError")]}}}}, _preload_content=False)

    def failed():
        job = _json(k8s.BatchV1Api(apis).read_namespaced_job(name, NS, _preload_content=False))
        return next((c for c in job["status"].get("conditions") or []
                     if c["type"] == "Failed" and c["status"] == "True"), None)
    condition = _wait(f"Job {name} Failed", failed, timeout=60)
    assert condition["reason"] == "BackoffLimitExceeded", condition
    [pod] = _pods(core, f"job-name={name}")
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error"), terminated
    assert terminated["message"] == "boom\n"  # terminationMessagePolicy FallbackToLogsOnError
    assert pod["status"]["podIP"].startswith("127.") and pod["status"]["podIP"] != "127.0.0.1"
    for which in ("1.32", "1.20"):
        result = _kubectl(control_plane, tmp_path, which, "logs", f"job/{name}")
        assert (result.returncode, result.stdout) == (0, "boom\n"), (which, result.stderr)


@pytest.mark.parametrize("which", ["1.32", "1.20"])
def test_kubectl_sees_the_failed_job(node, control_plane, tmp_path, which):
    """The operator's view: a hook Job applied with kubectl fails, `kubectl wait` says so, and the
    pod's own state is the exit code (the classic failed init-db hook)."""
    name = _name("init-db")
    manifest = json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {
        "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            _container("init-db", ["sh", "-c", "echo migrating; echo 'ERROR 1045: Access denied' >&2; exit 3"])]}}}})
    applied = _kubectl(control_plane, tmp_path, which, "apply", "-f", "-", input=manifest)
    assert applied.returncode == 0, applied.stderr
    waited = _kubectl(control_plane, tmp_path, which, "wait", f"job/{name}", "--for=condition=Failed", "--timeout=60s")
    assert waited.returncode == 0 and "condition met" in waited.stdout, waited.stderr
    pods = _kubectl(control_plane, tmp_path, which, "get", "pods", "-l", f"job-name={name}", "--no-headers")
    assert pods.stdout.split()[1:3] == ["0/1", "Error"], pods.stdout
    logs = _kubectl(control_plane, tmp_path, which, "logs", f"job/{name}")
    # stdout and stderr are two pipes: between them the order is not kept, here as in containerd
    assert sorted(logs.stdout.splitlines()) == ["ERROR 1045: Access denied", "migrating"], logs.stderr


def test_an_unknown_image_is_never_ready(node, core, apis):
    name = _name("nope")
    _deployment(apis, name, _container("app", image="registry.invalid/nope:1.0"))
    reasons = set()

    def backed_off():
        for pod in _pods(core, f"app={name}"):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                reasons.add(status["state"].get("waiting", {}).get("reason"))
                assert not status["ready"]
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons
    _wait(f"ErrImagePull then ImagePullBackOff (seen {reasons})", backed_off, timeout=30)
    [pod] = _pods(core, f"app={name}")
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["message"].startswith('Back-off pulling image "registry.invalid/nope:1.0": ErrImagePull: '), waiting
    assert "no such host" in waiting["message"]
    events = {(e["reason"], e["message"].split(":")[0]) for e in _events(core, pod["metadata"]["name"])}
    assert ("Failed", "Error") in events and ("BackOff", 'Back-off pulling image "registry.invalid/nope') in events
    assert ("Failed", 'Failed to pull image "registry.invalid/nope') in events, events
    deployment = _json(k8s.AppsV1Api(apis).read_namespaced_deployment(name, NS, _preload_content=False))
    assert not deployment["status"].get("readyReplicas"), deployment["status"]


def test_a_container_that_exits_1_crash_loops(node, core, apis, control_plane, tmp_path):
    name = _name("crash")
    _deployment(apis, name, _container("app", ["sh", "-c", "echo crashed at start; exit 1"]))
    started = time.monotonic()

    def looping():
        for pod in _pods(core, f"app={name}"):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                if status["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" \
                        and status["restartCount"] >= 2:
                    return pod, status
        return None
    pod, status = _wait("CrashLoopBackOff with restartCount >= 2", looping, timeout=60)
    took = time.monotonic() - started
    print(f"CrashLoopBackOff with restartCount {status['restartCount']} after {took:.1f} s")
    assert took >= 10, "the kubelet waits its 10 s back-off before the second restart"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["state"]["waiting"]["message"].startswith("back-off 20s restarting failed container=app pod=")
    assert pod["status"]["phase"] == "Running" and not status["ready"]
    pulled = [e for e in _events(core, pod["metadata"]["name"]) if e["reason"] == "Pulled"]
    assert [e["message"] for e in pulled] == ['Container image "busybox:1.36" already present on machine']
    assert pulled[0]["count"] >= 3, "each start, restarts included, goes through the image (as the kubelet's)"
    for which in ("1.32", "1.20"):
        result = _kubectl(control_plane, tmp_path, which, "logs", pod["metadata"]["name"], "--previous")
        assert (result.returncode, result.stdout) == (0, "crashed at start\n"), (which, result.stderr)
    never = _kubectl(control_plane, tmp_path, "1.32", "logs", f"deploy/{name}", "--previous", "--tail=5")
    assert never.stdout == "crashed at start\n", never.stderr


def _probe_pod(core, name: str, probe: dict, kind: str = "readinessProbe") -> None:
    core.create_namespaced_pod(NS, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            _container("app", ["sh", "-c", "echo up; exec sleep 3600"], **{kind: probe})]}},
        _preload_content=False)


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def test_readiness_probes_decide_ready(node, core):
    good, bad = _name("ready"), _name("unready")
    _probe_pod(core, good, {"exec": {"command": ["sh", "-c", "test -n \"$HOSTNAME\""]}, "periodSeconds": 1})
    _probe_pod(core, bad, {"httpGet": {"path": "/health", "port": 8081}, "periodSeconds": 1, "failureThreshold": 2})
    pod = _wait(f"{good} Ready", lambda: (lambda p: p if _ready(p) else None)(_pod(core, good)), timeout=30)
    assert pod["status"]["containerStatuses"][0]["ready"]
    unhealthy = _wait(f"Unhealthy events of {bad}",
                      lambda: [e for e in _events(core, bad) if e["reason"] == "Unhealthy"], timeout=30)
    ip = _pod(core, bad)["status"]["podIP"]
    assert unhealthy[0]["message"] == (f'Readiness probe failed: Get "http://{ip}:8081/health": '
                                       f"dial tcp {ip}:8081: connect: connection refused"), unhealthy[0]
    assert unhealthy[0]["type"] == "Warning"
    pod = _pod(core, bad)
    assert pod["status"]["phase"] == "Running" and not _ready(pod)
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady" and ready["message"] == "containers with unready status: [app]"


def test_a_failing_liveness_probe_restarts_the_container(node, core):
    name = _name("live")
    _probe_pod(core, name, {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 2}, "livenessProbe")
    status = _wait("a restart after the liveness probe failed",
                   lambda: next((s for s in _pod(core, name)["status"].get("containerStatuses") or []
                                 if s["restartCount"] >= 1), None), timeout=30)
    # SIGTERM, as the kubelet sends first: here `sleep` is not PID 1 of a container, so it dies of it
    # (143); in a real busybox container PID 1 ignores it and the SIGKILL after the grace period ends it (137)
    assert status["lastState"]["terminated"]["exitCode"] == 143, status
    reasons = {e["reason"]: e["message"] for e in _events(core, name)}
    assert reasons["Killing"] == "Container app failed liveness probe, will be restarted"
    assert reasons["Unhealthy"].startswith("Liveness probe failed: dial tcp ")


def test_deleting_a_pod_kills_its_process_and_removes_it(node, core):
    name = _name("sleeper")
    _probe_pod(core, name, {"exec": {"command": ["true"]}, "periodSeconds": 1})
    _wait(f"{name} Ready", lambda: _ready(_pod(core, name)), timeout=30)
    worker = node.find(NS, name)
    pid = worker.containers[0].process.proc.pid
    core.delete_namespaced_pod(name, NS, _preload_content=False)
    from kubernetes.client.rest import ApiException

    def gone():
        try:
            _pod(core, name)
        except ApiException as exc:
            return exc.status == 404
        return False
    _wait(f"{name} deleted", gone, timeout=20)
    assert _pid_gone(pid)


def test_logs_follow_ends_with_the_container_and_tail_counts_lines(node, core, control_plane, tmp_path):
    name = _name("follow")
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "containers": [_container("app", ["sh", "-c", "echo one; sleep 2; echo two >&2"])]}},
        _preload_content=False)
    _wait(f"{name} running", lambda: "running" in ((_pod(core, name)["status"].get("containerStatuses") or [{}])[0]
                                                  .get("state") or {}), timeout=30)
    started = time.monotonic()
    followed = _kubectl(control_plane, tmp_path, "1.32", "logs", "-f", name)
    assert (followed.returncode, followed.stdout) == (0, "one\ntwo\n"), followed.stderr
    assert 1.0 < time.monotonic() - started < 15, "follow waits for the container, and returns when it ends"
    tail = _kubectl(control_plane, tmp_path, "1.20", "logs", name, "--tail=1")
    assert (tail.returncode, tail.stdout) == (0, "two\n"), tail.stderr
    stamped = _kubectl(control_plane, tmp_path, "1.20", "logs", name, "--timestamps", "--since=1h")
    assert re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (one|two)\n){2}", stamped.stdout), stamped
    assert _kubectl(control_plane, tmp_path, "1.32", "logs", name, "--since-time=2999-01-01T00:00:00Z").stdout == ""
    never = _kubectl(control_plane, tmp_path, "1.32", "logs", name, "--previous")
    assert never.returncode != 0
    assert f'previous terminated container "app" in pod "{name}" not found' in never.stderr, never.stderr


def test_replicas_serve_the_same_port_each_on_its_own_address(node, core, apis):
    """Each pod has its own loopback address, so two replicas listen on the same port and an HTTP
    readiness probe (after a TCP startup probe) reaches each at its own podIP."""
    name = _name("web")
    container = _container("web", ["sh", "-c", 'echo "serving $(POD_IP)"; exec python3 -m http.server --bind "$POD_IP" 8080'],
                           env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                           ports=[{"name": "http", "containerPort": 8080}],
                           startupProbe={"tcpSocket": {"port": "http"}, "periodSeconds": 1, "failureThreshold": 30},
                           readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1})
    _deployment(apis, name, container, replicas=2)
    _wait("2 ready replicas", lambda: _json(k8s.AppsV1Api(apis).read_namespaced_deployment(
        name, NS, _preload_content=False))["status"].get("readyReplicas") == 2, timeout=45)
    pods = _pods(core, f"app={name}")
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2 and "127.0.0.1" not in ips, ips
    for pod in pods:
        status = pod["status"]["containerStatuses"][0]
        assert status["started"] and status["ready"] and status["restartCount"] == 0, status
        ip = pod["status"]["podIP"]
        with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as response:
            assert response.status == 200


def _pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"  # a zombie is dead, waiting for its parent to reap it
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while read (ESRCH)
        return True


def test_containers_die_with_a_killed_node(control_plane, core, node, tmp_path):
    """PR_SET_PDEATHSIG: when the node's process is killed (SIGKILL, no clean-up), its containers'
    processes are killed by the kernel. A second node in its own process runs the pod."""
    second = "sandbox-node-killed"
    script = ("import sys, time\nfrom c7n_sandbox.node import Node\n"
              "Node(sys.argv[1], sys.argv[2], name=sys.argv[3]).start()\nprint('ready', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(control_plane.kubeconfig), str(tmp_path / "node"), second],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    name = _name("orphan")
    try:
        line = _wait("the second node ready", lambda: proc.stdout.readline() or proc.poll() is not None, timeout=60)
        assert line == "ready\n", f"{line}{proc.stdout.read() if proc.poll() is not None else ''}"
        core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
            "nodeName": second, "containers": [_container("app", ["sh", "-c", "echo $$; exec sleep 600"])]}},
            _preload_content=False)
        _wait(f"{name} running", lambda: _pod(core, name)["status"].get("phase") == "Running", timeout=30)
        pid = int(_wait("the container's pid in its log", lambda: core.read_namespaced_pod_log(name, NS).strip(),
                        timeout=10))
        assert not _pid_gone(pid)
        proc.kill()
        proc.wait(10)
        _wait(f"process {pid} killed with the node", lambda: _pid_gone(pid), timeout=10)
    finally:
        proc.kill()
        proc.wait(10)
        core.delete_namespaced_pod(name, NS, grace_period_seconds=0, _preload_content=False)
        core.delete_node(second, _preload_content=False)
