"""exec and port-forward on the sandbox's pods, with every client: the official Python client
(`kubernetes.stream.stream` / `portforward`, websockets), kubectl 1.32 (websocket exec, SPDY tunnelled
port-forward) and kubectl 1.20 (SPDY)."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream

from c7n_upgrade.sandbox.apiserver import ApiServer, Store
from c7n_upgrade.sandbox.runtime import Runtime

from ..real_tools import real_tool
from .running_cluster import (NS, PLAN, REGISTER_IMAGE, cluster, kubeconfig, phase, pod, running,  # noqa: F401
                              wait_for)

pytestmark = pytest.mark.sandbox


# ---------------------------------------------------------------- exec and port-forward

def test_exec_env_returns_the_pods_environment(cluster):
    core, _, _ = cluster
    core.create_namespaced_config_map(NS, {"metadata": {"name": "settings"},
                                           "data": {"level": "debug", "app.yml": "port: 8080\n"}})
    shell = pod("shell", ["sleep", "infinity"],
                env=[{"name": "GREETING", "value": "hello world"},
                     {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
                     {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                volumeMounts=[{"name": "config", "mountPath": "/etc/app"}])
    shell["spec"]["volumes"] = [{"name": "config", "configMap": {"name": "settings"}}]
    core.create_namespaced_pod(NS, shell)
    wait_for(lambda: phase(core, "shell") == "Running", "the pod runs")
    out = stream(core.connect_get_namespaced_pod_exec, "shell", NS, command=["env"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["GREETING"] == "hello world" and env["LEVEL"] == "debug" and env["MY_POD"] == "shell"
    assert env["HOSTNAME"] == "shell" and "PATH" in env
    assert stream(core.connect_get_namespaced_pod_exec, "shell", NS, command=["cat", "/etc/app/app.yml"],
                  stderr=True, stdin=False, stdout=True, tty=False) == "port: 8080\n"


def test_exec_exit_codes_unknown_commands_and_stdin(cluster):
    core, _, _ = cluster
    core.create_namespaced_pod(NS, pod("shell", ["sleep", "infinity"]))
    wait_for(lambda: phase(core, "shell") == "Running", "the pod runs")

    def run(command, stdin=None):
        ws = stream(core.connect_get_namespaced_pod_exec, "shell", NS, command=command, stderr=True,
                    stdin=stdin is not None, stdout=True, tty=False, _preload_content=False)
        if stdin is not None:
            ws.write_stdin(stdin)
            ws.close_channel(0)
        ws.run_forever(timeout=20)
        return ws.returncode, ws.read_stdout(), ws.read_stderr()

    assert run(["true"]) == (0, "", "")
    assert run(["false"])[0] == 1
    code, _, err = run(["ls", "/"])
    assert code == 126 and "cannot run 'ls /'" in err and "the sandbox's containers answer only" in err
    assert run(["sh", "-c", "cat /nope"]) == (1, "", "cat: /nope: No such file or directory\n")
    assert run(["cat"], stdin="piped\n") == (0, "piped\n", "")
    with pytest.raises(ApiException) as missing:
        stream(core.connect_get_namespaced_pod_exec, "nope", NS, command=["true"], stdout=True, tty=False)
    assert "404" in str(missing.value)


def test_port_forward_answers_the_pods_health_endpoint(cluster):
    core, _, _ = cluster
    core.create_namespaced_pod(NS, pod("register", image=REGISTER_IMAGE, ports=[{"containerPort": 8000}]))
    wait_for(lambda: phase(core, "register") == "Running", "the pod runs")
    forward = portforward(core.connect_get_namespaced_pod_portforward, "register", NS, ports="8000,9999")
    sock = forward.socket(8000)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: register\r\nConnection: close\r\n\r\n")
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and json.loads(body) == {"status": "UP"}
    assert wait_for(lambda: forward.error(9999), "the error of the port nothing listens on")
    assert "failed to connect to localhost:9999" in forward.error(9999)
    sock.close()
    forward.socket(9999).close()


def test_kubectl_exec_runs_what_the_sandbox_answers_and_refuses_the_rest(cluster, kubectl):
    core, _, _ = cluster
    core.create_namespaced_pod(NS, pod("shell", ["sleep", "infinity"], env=[{"name": "GREETING", "value": "hi"}]))
    wait_for(lambda: phase(core, "shell") == "Running", "the pod runs")
    env = kubectl("exec", "shell", "--", "env", check=False)
    assert env.returncode == 0 and "GREETING=hi\n" in env.stdout and "HOSTNAME=shell\n" in env.stdout
    piped = kubectl("exec", "-i", "shell", "--", "cat", input="through stdin\n", check=False)
    assert (piped.returncode, piped.stdout) == (0, "through stdin\n")
    refused = kubectl("exec", "shell", "--", "ls", "/", check=False)
    assert refused.returncode == 126
    assert "the sandbox's containers answer only" in refused.stderr
    assert "command terminated with exit code 126" in refused.stderr




# ---------------------------------------------------------------- port-forward with kubectl; kubectl 1.20

def kubectl_env(kubeconfig, tmp_path) -> dict:
    return dict(os.environ, KUBECONFIG=kubeconfig, KUBECACHEDIR=str(tmp_path / "kube-cache"), HOME=str(tmp_path))


def health_through_port_forward(binary, env) -> dict:
    """`kubectl port-forward pod/register :8000`, then GET /health through the local port it chose."""
    proc = subprocess.Popen([binary, "port-forward", "pod/register", ":8000"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()           # Forwarding from 127.0.0.1:PORT -> 8000
        assert line.startswith("Forwarding from 127.0.0.1:"), line + proc.stderr.read()
        local = int(line.split("127.0.0.1:")[1].split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/health", timeout=20) as answer:
            return {"code": answer.status, **json.loads(answer.read())}
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize("version", ["1.32", "1.20"])
def test_kubectl_port_forward_reaches_the_pods_health(cluster, kubeconfig, tmp_path, version):
    core, _, _ = cluster
    core.create_namespaced_pod(NS, pod("register", image=REGISTER_IMAGE, ports=[{"containerPort": 8000}]))
    running(core, "register")
    binary = "kubectl" if version == "1.32" else str(real_tool("kubectl-1.20"))
    assert health_through_port_forward(binary, kubectl_env(kubeconfig, tmp_path)) == {"code": 200, "status": "UP"}


def test_kubectl_1_20_exec_over_spdy(cluster, kubeconfig, tmp_path):
    core, _, _ = cluster
    core.create_namespaced_pod(NS, pod("shell", ["sleep", "infinity"], env=[{"name": "GREETING", "value": "hi"}]))
    running(core, "shell")
    binary, env = str(real_tool("kubectl-1.20")), kubectl_env(kubeconfig, tmp_path)

    def run(*args, input=None):
        return subprocess.run([binary, "exec", *args], env=env, input=input, capture_output=True, text=True,
                              timeout=60)

    assert "GREETING=hi\n" in run("shell", "--", "env").stdout
    assert run("-i", "shell", "--", "cat", input="over spdy\n").stdout == "over spdy\n"
    refused = run("shell", "--", "ls")
    assert refused.returncode == 126 and "the sandbox's containers answer only" in refused.stderr


def test_the_pod_proxy_reaches_a_port_the_sandbox_serves_higher_without_root(tmp_path):
    store = Store()
    runtime = Runtime(store, tmp_path, PLAN, NS, start_delay=(0.05, 0.1), privileged_ports=False).start()
    with ApiServer(store, pods=runtime) as server:
        core = client.CoreV1Api(client.ApiClient(client.Configuration(host=server.url)))
        core.create_namespaced_pod(NS, pod("front", image="registry.example/choerodon/choerodon-front:0.9.0",
                                           ports=[{"containerPort": 80}]))
        running(core, "front")
        page = core.connect_get_namespaced_pod_proxy_with_path("front:80", NS, "index.html", _preload_content=False)
        assert page.status == 200 and b"<html" in page.data.lower()
    runtime.stop()
