"""The node's kubelet API for exec, cp, attach, port-forward and logs -f, through the real API server
(issue 16), with kubectl 1.32 (websocket v5 exec the API server turns into SPDY, port-forward
tunnelled), kubectl 1.20 (SPDY, proxied as is) and the official Python client (kubernetes.stream)."""
from __future__ import annotations

import io
import os
import re
import tarfile
import subprocess
import urllib.request

import pytest
from kubernetes.stream import portforward, stream

from tests.sandbox.test_control_plane import _wait
from tests.sandbox.test_node import _container, _json, _kubectl_binary, _name
from tests.sandbox.test_node import core  # noqa: F401 - the fixture: a CoreV1Api of the sandbox context

pytestmark = pytest.mark.sandbox

NS = "node-streams"
KUBECTLS = ["1.32", "1.20"]
SERVE = 'exec python3 -m http.server --bind "$POD_IP" 8080'


@pytest.fixture(scope="module")
def node(control_plane, tmp_path_factory):
    from c7n_sandbox.node import Node
    # its own name and addresses: test_node.py's node may be going away as this one starts (a Node of
    # the same name would be deleted under it)
    node = Node(control_plane.kubeconfig, tmp_path_factory.mktemp("node"), name="sandbox-node-streams",
                pod_cidr="127.78.0.0/16", log=print).start()
    control_plane.kubectl("create", "namespace", NS)
    _wait("the default ServiceAccount", lambda: control_plane.kubectl(
        "get", "serviceaccount", "default", "-n", NS).returncode == 0)
    yield node
    control_plane.kubectl("delete", "namespace", NS, "--wait=false")
    node.stop()
    control_plane.kubectl("delete", "node", node.name)


@pytest.fixture(scope="module")
def shell(node, core):
    """A running busybox pod that idles (exec and cp go into it)."""
    return _running(core, _name("shell"), _container("box", ["sh", "-c", "exec sleep 600"]))


@pytest.fixture(scope="module")
def web(node, core):
    """A pod serving HTTP on its own address, port 8080 (port-forward goes to it)."""
    env = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    name = _running(core, _name("web"), _container("web", ["sh", "-c", SERVE], env=env,
                                                   readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1}))
    _wait("web ready", lambda: _status(core, name).get("ready"), timeout=30)
    return name


def _status(core, name: str) -> dict:
    pod = _json(core.read_namespaced_pod(name, NS, _preload_content=False))
    return (pod["status"].get("containerStatuses") or [{}])[0] | {"phase": pod["status"].get("phase")}


def _running(core, name: str, container: dict, restart: str = "Always") -> str:
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                    "spec": {"restartPolicy": restart, "containers": [container]}},
                               _preload_content=False)
    _wait(f"{name} running", lambda: "running" in (_status(core, name).get("state") or {}), timeout=30)
    return name


def _kubectl(control_plane, tmp_path, which, *args, input=None, cwd=None):
    env = dict(os.environ, HOME=str(tmp_path), KUBECACHEDIR=str(tmp_path / f"kube-cache-{which}"))
    return subprocess.run([_kubectl_binary(which), f"--kubeconfig={control_plane.kubeconfig}", "-n", NS, *args],
                          input=input, capture_output=True, text=isinstance(input, (str, type(None))), timeout=60,
                          env=env, cwd=cwd)


@pytest.mark.parametrize("which", KUBECTLS)
def test_kubectl_exec_prints_and_exits_with_the_commands_code(control_plane, shell, tmp_path, which):
    done = _kubectl(control_plane, tmp_path, which, "exec", shell, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert (done.returncode, done.stdout) == (3, "hi\n"), done.stderr
    assert "oops\n" in done.stderr and "command terminated with exit code 3" in done.stderr, done.stderr
    env = _kubectl(control_plane, tmp_path, which, "exec", shell, "--", "sh", "-c", 'echo "$HOSTNAME $PWD"')
    assert env.returncode == 0 and env.stdout.startswith(f"{shell} /"), env
    assert env.stdout.rstrip().endswith("/box/root"), "the container's scratch root is the cwd"
    missing = _kubectl(control_plane, tmp_path, which, "exec", shell, "--", "no-such-command")
    assert missing.returncode != 0 and 'exec: "no-such-command": executable file not found' in missing.stderr, missing


def test_exec_into_a_container_in_back_off_is_refused(control_plane, node, core, tmp_path):
    name = _name("crash")
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                    "spec": {"containers": [_container("app", ["sh", "-c", "exit 1"])]}},
                               _preload_content=False)
    _wait(f"{name} in CrashLoopBackOff", lambda: (_status(core, name).get("state") or {}).get(
        "waiting", {}).get("reason") == "CrashLoopBackOff", timeout=30)
    refused = _kubectl(control_plane, tmp_path, "1.32", "exec", name, "--", "true")
    assert refused.returncode != 0 and 'container not found ("app")' in refused.stderr, refused


@pytest.mark.parametrize("which", KUBECTLS)
def test_kubectl_exec_i_streams_stdin(control_plane, shell, tmp_path, which):
    done = _kubectl(control_plane, tmp_path, which, "exec", "-i", shell, "--", "sh", "-c", "cat; echo end",
                    input="one\ntwo\n")
    assert (done.returncode, done.stdout) == (0, "one\ntwo\nend\n"), done.stderr


def test_the_python_client_execs_with_stdin_and_exit_codes(shell, core):
    out = stream(core.connect_get_namespaced_pod_exec, shell, NS, command=["sh", "-c", "echo hi; exit 3"],
                 stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    out.run_forever(timeout=30)
    assert (out.read_stdout(), out.returncode) == ("hi\n", 3)
    talk = stream(core.connect_get_namespaced_pod_exec, shell, NS, command=["sh", "-c", "read l; echo got $l"],
                  stdout=True, stderr=True, stdin=True, tty=False, _preload_content=False)
    talk.write_stdin("ping\n")
    talk.run_forever(timeout=30)
    assert (talk.read_stdout(), talk.returncode) == ("got ping\n", 0)


def test_a_v4_websocket_exec_reaches_the_nodes_websocket(control_plane, shell):
    """A client that offers only v4.channel.k8s.io (before v5) is proxied to the node as a websocket."""
    from kubernetes import client as k8s
    from kubernetes import config as kube_config
    api = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig), context="sandbox")
    api.set_default_header("sec-websocket-protocol", "v4.channel.k8s.io")
    try:
        out = stream(k8s.CoreV1Api(api).connect_get_namespaced_pod_exec, shell, NS, stdin=False, tty=False,
                     command=["sh", "-c", "echo hi; echo oops >&2; exit 4"], stdout=True, stderr=True,
                     _preload_content=False)
        out.run_forever(timeout=30)
        assert (out.subprotocol, out.read_stdout(), out.read_stderr(), out.returncode) == (
            "v4.channel.k8s.io", "hi\n", "oops\n", 4)
    finally:
        api.close()


def test_exec_in_a_choerodon_image_runs_with_its_environment(node, core):
    """A Choerodon image has no filesystem: exec runs on this machine, with the container's env."""
    from c7n_sandbox.chart_templates import DBTOOL_IMAGE
    name = _running(core, _name("svc"), _container("svc", None, image=DBTOOL_IMAGE,
                                                   env=[{"name": "SPRING_PROFILE", "value": "sandbox"}]))
    out = stream(core.connect_get_namespaced_pod_exec, name, NS, command=["sh", "-c", 'echo "$SPRING_PROFILE"; pwd'],
                 stdout=True, stderr=True, stdin=False, tty=False)
    profile, cwd = out.splitlines()
    assert profile == "sandbox" and cwd.endswith("/svc/root"), out


@pytest.mark.parametrize("which", KUBECTLS)
def test_kubectl_cp_copies_into_and_out_of_a_pod(control_plane, shell, tmp_path, which):
    local = tmp_path / "in.bin"
    local.write_bytes(os.urandom(300_000) + b"end\n")
    into = _kubectl(control_plane, tmp_path, which, "cp", str(local), f"{shell}:copied-{which}.bin", cwd=tmp_path)
    assert into.returncode == 0, into.stderr
    size = _kubectl(control_plane, tmp_path, which, "exec", shell, "--", "wc", "-c", f"copied-{which}.bin")
    assert size.stdout.split()[0] == "300004", size
    out = _kubectl(control_plane, tmp_path, which, "cp", f"{shell}:copied-{which}.bin", "back.bin", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "back.bin").read_bytes() == local.read_bytes()


def test_the_python_client_copies_with_tar_over_exec(shell, core):
    """What kubectl cp does, by hand: tar into the pod on stdin (closed with v5's close signal), out on stdout."""
    payload = os.urandom(100_000)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("py.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    into = stream(core.connect_get_namespaced_pod_exec, shell, NS, command=["tar", "xmf", "-"], stdin=True,
                  stdout=True, stderr=True, tty=False, binary=True, _preload_content=False)
    into.write_stdin(archive.getvalue())
    into.close_channel(0)
    into.run_forever(timeout=30)
    assert into.returncode == 0, into.read_stderr()
    out = stream(core.connect_get_namespaced_pod_exec, shell, NS, command=["tar", "cf", "-", "py.bin"], stdin=False,
                 stdout=True, stderr=True, tty=False, binary=True, _preload_content=False)
    out.run_forever(timeout=30)
    assert out.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(out.read_stdout()), mode="r") as tar:
        assert tar.extractfile("py.bin").read() == payload


def _forwarded_port(proc) -> int:
    line = proc.stdout.readline()
    match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
    if not match and not line:
        proc.wait(10)  # it ended: why is on its stderr
    assert match, f"{line}{proc.stderr.read() if proc.poll() is not None else ''}"
    return int(match.group(1))


@pytest.mark.parametrize("which", KUBECTLS)
def test_kubectl_port_forward_reaches_the_pods_server(control_plane, web, tmp_path, which):
    env = dict(os.environ, HOME=str(tmp_path), KUBECACHEDIR=str(tmp_path / "kube-cache"))
    proc = subprocess.Popen([_kubectl_binary(which), f"--kubeconfig={control_plane.kubeconfig}", "-n", NS,
                             "port-forward", f"pod/{web}", ":8080"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        port = _forwarded_port(proc)
        for _ in range(2):  # each connection is its own stream pair
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                assert response.status == 200 and b"Directory listing" in response.read()
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_python_client_port_forwards(web, core):
    forward = portforward(core.connect_get_namespaced_pod_portforward, web, NS, ports="8080")
    sock = forward.socket(8080)
    sock.settimeout(10)
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.0 200") and b"Directory listing" in answer, answer[:200]
    assert forward.error(8080) is None
    nobody = portforward(core.connect_get_namespaced_pod_portforward, web, NS, ports="8099")
    closed = nobody.socket(8099)
    closed.settimeout(10)
    assert closed.recv(1) == b""
    assert "failed to connect to localhost:8099 inside the pod" in (nobody.error(8099) or ""), nobody.error(8099)


@pytest.mark.parametrize("which", KUBECTLS)
def test_logs_follow_of_a_finished_pod_returns(control_plane, node, core, tmp_path, which):
    name = _name("done")
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "containers": [_container("app", ["sh", "-c", "echo one; echo two"])]}},
        _preload_content=False)
    _wait(f"{name} Succeeded", lambda: _status(core, name)["phase"] == "Succeeded", timeout=30)
    followed = _kubectl(control_plane, tmp_path, which, "logs", "-f", name)
    assert (followed.returncode, followed.stdout) == (0, "one\ntwo\n"), followed.stderr
    assert core.read_namespaced_pod_log(name, NS, follow=True, _request_timeout=30) == "one\ntwo\n"


def _listening(core) -> str:
    """A running pod that answers each line of its stdin (kept open: `stdin`, closed after one attach)."""
    script = 'echo started; while read l; do echo "got $l"; done; echo bye'
    name = _running(core, _name("attach"), _container("app", ["sh", "-c", script], stdin=True, stdinOnce=True),
                    restart="Never")
    _wait("its first line logged", lambda: "started" in core.read_namespaced_pod_log(name, NS))
    return name


def test_the_python_client_attaches(node, core):
    name = _listening(core)
    attached = stream(core.connect_get_namespaced_pod_attach, name, NS, stdin=True, stdout=True, stderr=True,
                      tty=False, _preload_content=False)
    attached.write_stdin("z\n")
    attached.close_channel(0)
    attached.run_forever(timeout=30)
    assert (attached.read_stdout(), attached.returncode) == ("got z\nbye\n", 0)


@pytest.mark.parametrize("which", KUBECTLS)
def test_kubectl_attach_feeds_stdin_and_shows_output(control_plane, core, node, tmp_path, which):
    name = _listening(core)
    attached = _kubectl(control_plane, tmp_path, which, "attach", "-i", name, input="x\ny\n")
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout.endswith("got x\ngot y\nbye\n") and "started" not in attached.stdout, attached
    _wait(f"{name} Succeeded once its stdin closed", lambda: _status(core, name)["phase"] == "Succeeded")
    again = _kubectl(control_plane, tmp_path, which, "attach", name)
    assert again.returncode != 0 and "completed pod" in again.stderr, again


def test_an_exec_ends_with_its_pod(control_plane, node, core, tmp_path):
    """An exec'd process lives in the container's PID namespace on a real node: deleting the pod ends it
    (here it had outlived the pod, and the node, until pytest exited)."""
    name = _running(core, _name("execd"), _container("box", ["sh", "-c", "exec sleep 600"]))
    pid_file = tmp_path / "exec.pid"
    proc = subprocess.Popen([_kubectl_binary("1.32"), f"--kubeconfig={control_plane.kubeconfig}", "-n", NS, "exec",
                             name, "--", "sh", "-c", f"echo $$ > {pid_file}; exec sleep 600"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, HOME=str(tmp_path)))
    try:
        pid = int(_wait("the exec'd process", lambda: pid_file.exists() and pid_file.read_text().strip()))
        core.delete_namespaced_pod(name, NS, grace_period_seconds=0, _preload_content=False)
        _wait("the exec'd process ended with its pod", lambda: _ended(pid), timeout=30)
    finally:
        proc.kill()
        proc.wait(10)


def _ended(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while read (ESRCH)
        return True
