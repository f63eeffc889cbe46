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
        pytest.skip("kubectl is not installed")
    env = dict(os.environ, KUBECONFIG=kubeconfig, KUBECACHEDIR=str(tmp_path / "kube-cache"),
               HOME=str(tmp_path))

    def run(*args, input=None, check=True):
        result = subprocess.run([binary, *args], env=env, input=input, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result
    return run
