"""A cluster for the tests of pods and the cluster's own objects: an API server whose pods a runtime
runs (no MariaDB), the official client on it, and its kubeconfig (conftest's `kubectl` uses it)."""
from __future__ import annotations

import pytest
from kubernetes import client

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from c7n_upgrade.sandbox.runtime import Runtime
from tests.sandbox import kubectl_output

PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace
REGISTER_IMAGE = "registry.cn-hangzhou.aliyuncs.com/choerodon-tools/go-register-server:0.9.0"


@pytest.fixture
def cluster(tmp_path):
    """(CoreV1Api, store, runtime) over an API server whose pods the runtime runs; tmp_path/kubeconfig."""
    store = Store()
    runtime = Runtime(store, tmp_path, PLAN, NS, start_delay=(0.05, 0.1), readiness_interval=0.05).start()
    server = ApiServer(store, pods=runtime, log_provider=runtime.pod_log)
    api = client.ApiClient(client.Configuration(host=server.start()))
    write_kubeconfig(str(tmp_path / "kubeconfig"), server.url, NS)
    yield client.CoreV1Api(api), store, runtime
    api.close()
    server.stop()
    runtime.stop()


@pytest.fixture
def kubeconfig(cluster, tmp_path):
    """The cluster's kubeconfig: conftest's `kubectl` fixture (the system kubectl, 1.32) runs against it."""
    return str(tmp_path / "kubeconfig")


def wait_for(check, what, timeout=20.0):
    """kubectl_output.wait_for, `what` first (as these tests call it)."""
    return kubectl_output.wait_for(check, timeout, what)


def pod(name, command=None, image="registry.example/tools/busybox:1.36", labels=None, policy=None, **container):
    spec = {"containers": [{"name": "main", "image": image, **({"command": command} if command else {}),
                            **container}]}
    if policy:
        spec["restartPolicy"] = policy
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def phase(core, name):
    return (core.read_namespaced_pod(name, NS).status.phase or "")


def running(core, name):
    """Wait until the pod runs; its IP."""
    wait_for(lambda: phase(core, name) == "Running", f"pod {name} runs")
    return core.read_namespaced_pod(name, NS).status.pod_ip
