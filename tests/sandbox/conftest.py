"""Fixtures: a sandbox Kubernetes API server on loopback, its kubeconfig, clients for it."""
import os
import shutil
import subprocess

import pytest
from kubernetes import config as kube_config

from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig

NAMESPACE = "choerodon-devops-prod"


@pytest.fixture
def store():
    return Store()


@pytest.fixture
def api_server(store, tmp_path):
    """A 1.15-era API server over `store`; request lines logged to tmp_path/apiserver.log."""
    server = ApiServer(store, log_path=str(tmp_path / "apiserver.log"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(api_server, tmp_path):
    path = tmp_path / "kubeconfig"
    write_kubeconfig(str(path), api_server.url, NAMESPACE)
    return str(path)


@pytest.fixture
def kube_client(kubeconfig):
    """kubernetes.client.ApiClient configured from the sandbox kubeconfig."""
    client = kube_config.new_client_from_config(config_file=kubeconfig)
    yield client
    client.close()


@pytest.fixture
def kubectl(kubeconfig, tmp_path):
    """kubectl(*args) -> CompletedProcess, against the sandbox (own discovery cache dir)."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail("kubectl is not installed: these tests drive the real kubectl", pytrace=False)
    env = dict(os.environ, KUBECONFIG=kubeconfig, KUBECACHEDIR=str(tmp_path / "kube-cache"),
               HOME=str(tmp_path))

    def run(*args, input=None, check=True):
        result = subprocess.run([binary, *args], env=env, input=input, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result
    return run


@pytest.fixture
def live_cluster(tmp_path):
    """A store with its runtime (pods start in 0.05-0.15 s) and an API server serving their logs:
    .store, .runtime, .url, .kubeconfig."""
    from types import SimpleNamespace

    from c7n_upgrade.plan import load_plan
    from c7n_upgrade.sandbox.runtime import Runtime

    store = Store()
    runtime = Runtime(store, tmp_path, load_plan("0.8-to-0.9"), NAMESPACE, start_delay=(0.05, 0.15),
                      readiness_interval=0.05)
    api = ApiServer(store, log_provider=runtime.pod_log, log_path=str(tmp_path / "apiserver.log"))
    api.start()
    runtime.start()
    path = tmp_path / "live-kubeconfig"
    write_kubeconfig(str(path), api.url, NAMESPACE)
    yield SimpleNamespace(store=store, runtime=runtime, url=api.url, kubeconfig=path)
    runtime.stop()
    api.stop()


@pytest.fixture(params=["1.32", "1.20"])
def real_kubectl(request, live_cluster, tmp_path):
    """real_kubectl(*args, check=True) -> CompletedProcess: kubectl 1.32 (the system's) or 1.20
    (Debian's, in .tools/) against the live cluster; .binary and .env to start it yourself."""
    from tests.real_tools import real_tool

    binary = shutil.which("kubectl") if request.param == "1.32" else str(real_tool("kubectl-1.20"))
    if binary is None:
        pytest.fail("kubectl is not installed", pytrace=False)
    env = dict(os.environ, KUBECONFIG=str(live_cluster.kubeconfig), HOME=str(tmp_path),
               KUBECACHEDIR=str(tmp_path / "kube-cache"))

    def run(*args, check=True, timeout=60):
        result = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {request.param} {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}{result.stderr}")
        return result
    run.binary, run.env, run.version = binary, env, request.param
    return run


@pytest.fixture(scope="session")
def control_plane(request, tmp_path_factory):
    """One real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
    kube-scheduler; no node) for the session, its binaries built first when this machine has none
    (progress on the terminal). A build or start failure fails the tests that use it, with its cause."""
    from c7n_upgrade.sandbox.controlplane import ControlPlane, ControlPlaneError, ensure_built

    progress = _terminal(request)
    try:
        bin_dir = ensure_built(progress)
        cp = ControlPlane(tmp_path_factory.mktemp("control-plane"), bin_dir, log=progress).start()
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cp
    cp.stop()


def _terminal(request):
    """print() to the terminal past pytest's capture: build progress must show while it runs."""
    capman = request.config.pluginmanager.getplugin("capturemanager")

    def progress(line):
        with capman.global_and_fixture_disabled():
            print(line, flush=True)
    return progress


@pytest.fixture(scope="session")
def helm2_bin(request):
    """The directory of the real Helm 2 `helm` and `tiller` (v2.17.0), built first when this machine
    has none (progress on the terminal)."""
    from c7n_upgrade.sandbox.controlplane import ControlPlaneError, ensure_built

    try:
        return ensure_built(_terminal(request), helm2=True)
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def tiller(request, helm2_bin, control_plane, tmp_path_factory):
    """Real Tiller v2.17.0 on loopback against the control plane; .helm(*args) runs the real Helm 2
    client against it."""
    from c7n_upgrade.sandbox.controlplane import ControlPlaneError, Tiller

    try:
        server = Tiller(tmp_path_factory.mktemp("tiller"), helm2_bin, control_plane.kubeconfig,
                        log=_terminal(request)).start()
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
