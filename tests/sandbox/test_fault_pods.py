"""The faults that keep pods from running, as a cluster shows them to the real kubectl and the official
client: image-missing (ErrImagePull, ImagePullBackOff, ErrImagePull…), crash-loop (CrashLoopBackOff with
a doubling back-off, `logs --previous`), unschedulable (Pending, PodScheduled=False, FailedScheduling)
and hook-fail (a hook Job's pods exit 1 until its backoffLimit: Failed, BackoffLimitExceeded). Cleared,
each heals at its next try. One runtime for the module, its back-off a tenth of a kubelet's (1 s, 2 s…)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading

import pytest
from kubernetes import client, watch

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import charts, faults
from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from c7n_upgrade.sandbox.runtime import Runtime
from tests.sandbox.kubectl_output import wait_for
from tests.sandbox.test_runtime import install

pytestmark = pytest.mark.sandbox
PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace
FAULTS = {"iam-service": "image-missing", "config-server": "crash-loop", "manager-service": "unschedulable",
          "notify-service": "hook-fail"}
IMAGE = "registry.cn-hangzhou.aliyuncs.com/choerodon/iam-service:0.9.0"


class Watched:
    """Every state the pods of each release went through, in order, from one watch of the pods."""

    def __init__(self, core):
        self.seen: dict[str, list[dict]] = {}
        self.stop = watch.Watch()
        self.thread = threading.Thread(target=self._run, args=(core,), daemon=True)
        self.thread.start()

    def _run(self, core):
        try:
            for event in self.stop.stream(core.list_namespaced_pod, NS, timeout_seconds=120, _request_timeout=130):
                pod = event["object"]
                release = (pod.metadata.labels or {}).get("choerodon.io/release", "")
                self.seen.setdefault(release, []).append(core.api_client.sanitize_for_serialization(pod))
        except Exception:   # the server stopped under it (the module is done)
            pass

    def waiting(self, release: str) -> list[tuple[str, str]]:
        """(reason, message) of the container's waiting states, each change once."""
        said = []
        for pod in self.seen.get(release, []):
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting")
                if waiting and (not said or said[-1] != (waiting.get("reason"), waiting.get("message", ""))):
                    said.append((waiting.get("reason"), waiting.get("message", "")))
        return said


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fault-pods")
    for release, kind in FAULTS.items():
        faults.set_fault(tmp, release, kind)
    store = Store()
    runtime = Runtime(store, tmp, PLAN, NS, start_delay=(0.05, 0.1), readiness_interval=0.05, bootstrapped=True,
                      backoff_scale=0.1).start()
    server = ApiServer(store, pods=runtime, log_provider=runtime.pod_log)
    api = client.ApiClient(client.Configuration(host=server.start()))
    write_kubeconfig(str(tmp / "kubeconfig"), server.url, NS)
    core = client.CoreV1Api(api)
    watched = Watched(core)
    for release in ("iam-service", "config-server", "manager-service"):
        install(store, release, "0.9.0")
    yield core, store, tmp, watched
    watched.stop.stop()
    api.close()
    server.stop()
    runtime.stop()


@pytest.fixture(scope="module")
def kubectl(cluster):
    _, _, tmp, _ = cluster
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail("kubectl is not installed: these tests drive the real kubectl", pytrace=False)
    env = dict(os.environ, KUBECONFIG=str(tmp / "kubeconfig"), KUBECACHEDIR=str(tmp / "kube-cache"), HOME=str(tmp))

    def run(*args):
        return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60)
    return run


def pod_of(core, release):
    pods = core.list_namespaced_pod(NS, label_selector=f"choerodon.io/release={release}").items
    return pods[0] if len(pods) == 1 else None


def heals(core, tmp, release):
    """Clear the fault: the pod runs at its next try (Ready once its service's dependencies are UP)."""
    faults.clear_fault(tmp, release)
    return wait_for(lambda: (p := pod_of(core, release)) and p.status.phase == "Running"
                    and p.status.container_statuses[0].state.running and p, timeout=30, what=f"{release} healed")


def test_image_missing_pulls_fail_again_after_each_back_off(cluster, kubectl):
    core, _, tmp, watched = cluster
    wait_for(lambda: [r for r, _ in watched.waiting("iam-service")].count("ErrImagePull") >= 2, timeout=20,
             what="a second failed pull")
    reasons = [r for r, _ in watched.waiting("iam-service") if r != "ContainerCreating"]
    assert reasons[:3] == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull"]
    messages = dict(watched.waiting("iam-service"))
    assert messages["ErrImagePull"] == (f'rpc error: code = NotFound desc = failed to pull and unpack image "{IMAGE}": '
                                        f'failed to resolve reference "{IMAGE}": {IMAGE}: not found')
    assert messages["ImagePullBackOff"].startswith(f'Back-off pulling image "{IMAGE}"')
    name = pod_of(core, "iam-service").metadata.name
    described = kubectl("describe", "pod", name).stdout
    assert f'Failed to pull image "{IMAGE}": rpc error: code = NotFound' in described
    assert "Error: ErrImagePull" in described and f'Back-off pulling image "{IMAGE}"' in described
    logs = kubectl("logs", name)
    assert logs.returncode == 1 and re.search(r"is waiting to start: (image can't be pulled|trying and failing to "
                                              r"pull image)", logs.stderr), logs.stderr
    assert heals(core, tmp, "iam-service").status.container_statuses[0].image == IMAGE


def test_crash_loop_restarts_with_a_doubling_back_off_and_keeps_the_last_runs_log(cluster, kubectl):
    core, _, tmp, watched = cluster
    pod = wait_for(lambda: (p := pod_of(core, "config-server")) and p.status.container_statuses[0].restart_count >= 3
                   and p.status.container_statuses[0].state.waiting and p, timeout=30, what="the third restart")
    status = pod.status.container_statuses[0]
    assert status.state.waiting.reason == "CrashLoopBackOff" and not status.ready
    ended = status.last_state.terminated
    assert (ended.reason, ended.exit_code) == ("Error", 1)
    backoffs = [m.split(" restarting")[0] for r, m in watched.waiting("config-server") if r == "CrashLoopBackOff"]
    assert backoffs[:2] == ["back-off 1s", "back-off 2s"], backoffs   # 10 s, 20 s, … scaled by 0.1
    name = pod.metadata.name
    previous = kubectl("logs", name, "--previous")
    assert previous.returncode == 0, previous.stderr
    assert "Application run failed" in previous.stdout and "BeanCreationException" in previous.stdout
    assert previous.stdout.count("Starting application") == 1, "the last run only"
    assert kubectl("logs", name).stdout == previous.stdout, "a container waiting to restart shows its last run"
    described = kubectl("describe", "pod", name).stdout
    assert "Back-off restarting failed container" in described and "Exit Code:    1" in described
    assert kubectl("get", "pod", name).stdout.split("\n")[1].split()[2] == "CrashLoopBackOff"
    healed = heals(core, tmp, "config-server").status.container_statuses[0]
    assert healed.restart_count >= 3 and healed.state.running


def test_unschedulable_pods_stay_pending_with_the_schedulers_reason(cluster, kubectl):
    core, _, tmp, _ = cluster
    pod = wait_for(lambda: pod_of(core, "manager-service"), what="the pod")
    assert pod.status.phase == "Pending" and not pod.spec.node_name and not pod.status.container_statuses
    (cond,) = pod.status.conditions
    assert (cond.type, cond.status, cond.reason) == ("PodScheduled", "False", "Unschedulable")
    assert cond.message == "0/1 nodes are available: 1 Insufficient memory."
    described = kubectl("describe", "pod", pod.metadata.name).stdout
    assert "FailedScheduling" in described and "0/1 nodes are available: 1 Insufficient memory." in described
    assert "Scheduled" not in described.replace("FailedScheduling", "").replace("PodScheduled", "")
    healed = heals(core, tmp, "manager-service")
    assert healed.spec.node_name == "sandbox-node" and healed.status.pod_ip


def test_hook_fail_fails_the_job_at_its_backoff_limit_with_its_pods_log(cluster, kubectl):
    core, store, _, _ = cluster
    objs = charts.render("notify-service", "notify-service", "0.9.0", {}, NS, 18086, 18085, hooks=["init-db"])
    store.create("jobs.batch", next(o for o in objs if o["kind"] == "Job"), NS)
    job = wait_for(lambda: (j := kubectl("get", "job", "notify-service-init-db", "-o", "json")).returncode == 0
                   and (j := json.loads(j.stdout))["status"].get("conditions") and j, timeout=20, what="the Job ends")
    (cond,) = job["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Failed", "True", "BackoffLimitExceeded")
    assert job["status"]["failed"] == 2 and not job["status"].get("succeeded")   # backoffLimit 1: two pods
    pods = core.list_namespaced_pod(NS, label_selector="job-name=notify-service-init-db").items
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Failed"}
    ended = pods[0].status.container_statuses[0].state.terminated
    assert (ended.reason, ended.exit_code) == ("Error", 1)
    logs = kubectl("logs", pods[0].metadata.name)
    assert "Access denied for user 'choerodon'" in logs.stdout
    assert "BackoffLimitExceeded" in kubectl("describe", "job", "notify-service-init-db").stdout
