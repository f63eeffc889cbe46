"""D/bin/helm on the real control plane (issue 16): the real Helm 3 through the thin wrapper
(c7n_sandbox/helmwrap.py), its helm-calls.jsonl lines, and the helm-level faults as the real
helm, API server and scheduler produce them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from c7n_upgrade.config import dotenv_line
from c7n_upgrade.plan import load_plan
from c7n_sandbox import charts, faults
from c7n_sandbox.helmwrap import write_wrapper
from tests.real_tools import real_tool
from tests.sandbox.test_control_plane import _wait

pytestmark = pytest.mark.sandbox

NS = "helm-wrap-tests"
HOSTILE = "p@ss w'o\"rd;$x%41"


@pytest.fixture(scope="module")
def world(control_plane, tmp_path_factory):
    """A sandbox dir with D/bin/helm wrapping the real Helm 3, a namespace, a node, the chart archives."""
    from c7n_sandbox.node import Node

    base = tmp_path_factory.mktemp("helm-wrap")
    d = base / "sandbox"
    d.mkdir()
    helm = write_wrapper(d, real_tool("helm"))
    tgz = {}
    for chart in charts.catalogue(load_plan("0.8-to-0.9")):
        if chart.name in ("config-server", "manager-service"):
            tgz[(chart.name, chart.version)] = base / chart.filename
            tgz[(chart.name, chart.version)].write_bytes(charts.chart_tgz(chart))
    node = Node(control_plane.kubeconfig, base / "node", log=print).start()
    control_plane.kubectl("create", "namespace", NS)
    _wait("the namespace's default ServiceAccount",
          lambda: control_plane.kubectl("get", "serviceaccount", "default", "-n", NS).returncode == 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "C7N_"))}
    env["KUBECONFIG"] = str(control_plane.kubeconfig)
    yield type("World", (), {"dir": d, "helm": helm, "tgz": tgz, "env": env, "cp": control_plane})
    control_plane.kubectl("delete", "namespace", NS, "--wait=false")
    node.stop()
    control_plane.kubectl("delete", "node", node.name, "--wait=false")


def helm(world, *args, stdin=None, ns=True):
    argv = [str(world.helm), *args, *(["-n", NS] if ns else [])]
    return subprocess.run(argv, env=world.env, input=stdin, capture_output=True, text=True, timeout=120)


def calls(world) -> list[dict]:
    path = world.dir / "helm-calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def history(world, release) -> list[dict]:
    return json.loads(helm(world, "history", release, "-o", "json").stdout)


def kube_json(world, *args) -> dict:
    result = world.cp.kubectl(*args, "-n", NS, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def chart(world, name, version) -> str:
    return str(world.tgz[(name, version)])


def test_argv_streams_and_exit_status_pass_through(world):
    real = subprocess.run([str(real_tool("helm")), "version", "--short"], capture_output=True, text=True)
    wrapped = helm(world, "version", "--short", ns=False)
    assert (wrapped.returncode, wrapped.stdout, wrapped.stderr) == (0, real.stdout, real.stderr)
    assert wrapped.stdout.startswith("v3.17.3")
    missing = helm(world, "status", "no-such-release")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "Error: release: not found\n")
    # stdin reaches helm: values read from `-f -`
    rendered = helm(world, "template", "t", chart(world, "config-server", "0.9.0"), "-f", "-", stdin="replicaCount: 7\n")
    assert rendered.returncode == 0 and "replicas: 7" in rendered.stdout
    lines = calls(world)[-3:]
    assert [(c["argv"], c["exit"]) for c in lines] == [
        (["version", "--short"], 0), (["status", "no-such-release", "-n", NS], 1),
        (["template", "t", chart(world, "config-server", "0.9.0"), "-f", "-", "-n", NS], 0)]
    assert all(isinstance(c["time"], float) and abs(c["time"] - time.time()) < 600 for c in lines)
    # unless the caller sets them, helm's config, cache and repositories live inside the sandbox dir
    shown = dict(line.split("=", 1) for line in helm(world, "env", ns=False).stdout.splitlines())
    for key in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_REPOSITORY_CONFIG", "HELM_REPOSITORY_CACHE"):
        assert shown[key].strip('"').startswith(str(world.dir / "helm-home")), (key, shown[key])


def test_helm_fail_leaves_a_failed_revision_and_the_old_deployment(world):
    assert helm(world, "install", "config-server", chart(world, "config-server", "0.8.0")).returncode == 0
    faults.set_fault(world.dir, "config-server", "helm-fail")
    dry = helm(world, "upgrade", "config-server", chart(world, "config-server", "0.9.0"), "--dry-run")
    assert dry.returncode == 0, dry.stderr  # a dry run is not faulted
    failed = helm(world, "upgrade", "config-server", chart(world, "config-server", "0.9.0"))
    assert failed.returncode == 1
    assert failed.stderr.startswith('Error: UPGRADE FAILED: cannot patch "config-server" with kind Deployment: ')
    assert "must be greater than or equal to 0" in failed.stderr
    assert [(r["revision"], r["status"]) for r in history(world, "config-server")] == [(1, "deployed"), (2, "failed")]
    labels = kube_json(world, "get", "deployment", "config-server")["spec"]["template"]["metadata"]["labels"]
    assert labels["choerodon.io/version"] == "0.8.0"
    line = calls(world)[-2]  # the history call came after it
    assert line == {**line, "argv": ["upgrade", "config-server", chart(world, "config-server", "0.9.0"), "-n", NS],
                    "exit": 1}
    # the fault is in no revision's values: a resumed run reuses `helm get values` (the failed revision's)
    values = json.loads(helm(world, "get", "values", "config-server", "-o", "json").stdout or "null")
    assert "resources" not in (values or {}), values
    faults.clear_fault(world.dir, "config-server")
    assert helm(world, "upgrade", "config-server", chart(world, "config-server", "0.9.0")).returncode == 0
    assert history(world, "config-server")[-1]["status"] == "deployed"


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while read (ESRCH)
        return []


def _start(world, *args, ignore_sigint=False) -> subprocess.Popen:
    argv = [str(world.helm), *args, "-n", NS]
    if ignore_sigint:  # as a shell without job control starts `cmd &`: SIGINT ignored across exec
        argv = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv]
    return subprocess.Popen(argv, env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_helm_hang_waits_then_deploys_and_a_signal_ends_the_wait(world):
    faults.set_fault(world.dir, "config-server", "helm-hang", "1.5")
    started = time.time()
    done = helm(world, "upgrade", "config-server", chart(world, "config-server", "0.9.0"))
    assert done.returncode == 0, done.stderr
    assert calls(world)[-1]["time"] - started >= 1.5  # it did hang, then helm deployed
    revisions = len(history(world, "config-server"))
    faults.set_fault(world.dir, "config-server", "helm-hang", "600")
    proc = _start(world, "upgrade", "config-server", chart(world, "config-server", "0.9.0"), ignore_sigint=True)
    _wait("the wrapper waiting", lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes().count(b"helmwrap"))
    proc.send_signal(signal.SIGINT)  # ignored by the caller: ignored here too
    time.sleep(1.0)
    assert proc.poll() is None and _children(proc.pid) == []  # still waiting; helm has not started
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert calls(world)[-1]["exit"] == 128 + signal.SIGTERM
    assert len(history(world, "config-server")) == revisions  # no revision from the hung call
    faults.clear_fault(world.dir, "config-server")


def _unschedulable(world) -> list[dict]:
    pods = kube_json(world, "get", "pods", "-l", "choerodon.io/release=config-server")["items"]
    return [c for p in pods for c in p["status"].get("conditions", [])
            if c["type"] == "PodScheduled" and c["status"] == "False"]


def test_unschedulable_pods_stay_pending_for_lack_of_memory(world):
    faults.set_fault(world.dir, "config-server", "unschedulable")
    done = helm(world, "upgrade", "config-server", chart(world, "config-server", "0.9.0"), "--set", "replicaCount=1")
    assert done.returncode == 0, done.stderr
    condition = _wait("a pod the scheduler cannot place", lambda: _unschedulable(world))[0]
    assert condition["reason"] == "Unschedulable"
    assert condition["message"].startswith("0/1 nodes are available: 1 Insufficient memory.")
    # the caller's argv, not the fault's flags
    assert calls(world)[-1]["argv"] == ["upgrade", "config-server", chart(world, "config-server", "0.9.0"),
                                        "--set", "replicaCount=1", "-n", NS]


def test_sigterm_reaches_helm_and_leaves_no_orphan(world):
    """Still unschedulable: `--wait` cannot finish, so helm is running when the wrapper gets SIGTERM."""
    proc = _start(world, "upgrade", "config-server", chart(world, "config-server", "0.9.0"), "--wait", "--timeout", "300s")
    child = _wait("helm started by the wrapper", lambda: _children(proc.pid))[0]
    assert Path(f"/proc/{child}/exe").resolve() == real_tool("helm").resolve()
    # helm writes to the caller's own pipes: nothing in between buffers its output
    for fd in (1, 2):
        assert os.readlink(f"/proc/{child}/fd/{fd}") == os.readlink(f"/proc/{proc.pid}/fd/{fd}")
    _wait("the pending revision", lambda: history(world, "config-server")[-1]["status"] == "pending-upgrade")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "Release config-server has been cancelled." in out
    assert err == "Error: UPGRADE FAILED: context canceled\n"
    assert not Path(f"/proc/{child}").exists()
    assert history(world, "config-server")[-1]["status"] == "failed"
    assert calls(world)[-2]["exit"] == 1  # before the history call
    faults.clear_fault(world.dir, "config-server")


def test_leftover_jobs_real_helm_keeps_then_replaces_the_hook_jobs(world):
    """The charts' hooks have no delete policy: Helm 3 leaves the finished Job after the install, and its
    default policy (before-hook-creation) replaces it at the upgrade, which therefore goes through."""
    faults.set_fault(world.dir, "manager-service", "leftover-jobs")
    busybox = ("--set", "preJob.image=busybox")
    assert helm(world, "install", "manager-service", chart(world, "manager-service", "0.8.0"), *busybox,
                "--timeout", "120s").returncode == 0
    job = kube_json(world, "get", "job", "manager-service-init-db")
    assert job["status"].get("succeeded") == 1
    upgraded = helm(world, "upgrade", "manager-service", chart(world, "manager-service", "0.9.0"), *busybox,
                    "--timeout", "120s")
    assert upgraded.returncode == 0, upgraded.stderr
    again = kube_json(world, "get", "job", "manager-service-init-db")
    assert again["metadata"]["uid"] != job["metadata"]["uid"] and again["status"].get("succeeded") == 1
    assert calls(world)[-1]["argv"] == ["upgrade", "manager-service", chart(world, "manager-service", "0.9.0"),
                                        *busybox, "--timeout", "120s", "-n", NS]
    faults.clear_fault(world.dir, "manager-service")


def test_no_secret_from_set_in_helm_calls(world):
    secrets_env = world.dir / "secrets.env"
    secrets_env.write_text(dotenv_line("C7N_MYSQL_ROOT_PASSWORD", HOSTILE))
    secrets_env.chmod(0o600)
    rendered = helm(world, "template", "s", chart(world, "config-server", "0.9.0"),
                    "--set-string", f"env.open.DB_URL=mysql://root:{HOSTILE}@db",
                    "--set", "env.open.SPRING_DATASOURCE_PASSWORD=hunter2-other,env.open.PLAIN=kept")
    assert rendered.returncode == 0, rendered.stderr
    deployment = next(d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Deployment")
    got = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert got["DB_URL"] == f"mysql://root:{HOSTILE}@db" and got["SPRING_DATASOURCE_PASSWORD"] == "hunter2-other"
    text = (world.dir / "helm-calls.jsonl").read_text()
    assert HOSTILE not in text and json.dumps(HOSTILE)[1:-1] not in text and "hunter2-other" not in text
    argv = calls(world)[-1]["argv"]
    assert "env.open.PLAIN=kept" in argv[-3] and argv[-3].startswith("env.open.SPRING_DATASOURCE_PASSWORD=******")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while read (ESRCH)
        return True


def test_a_killed_wrapper_leaves_no_helm_behind(tmp_path):
    """SIGKILL cannot be forwarded: helm gets SIGTERM from the kernel when the wrapper dies."""
    fake = tmp_path / "fake-helm"
    fake.write_text(f'#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 300\n')
    fake.chmod(0o755)
    proc = subprocess.Popen([str(write_wrapper(tmp_path / "d", fake)), "version"])
    pid = int(_wait("the fake helm started", lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text()))
    try:
        _wait("the fake helm exec'd sleep", lambda: Path(f"/proc/{pid}/exe").resolve().name == "sleep")
        proc.kill()
        proc.wait(10)
        _wait("helm ended after its wrapper was killed", lambda: _gone(pid), timeout=10)
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_signal_while_helm_2s_chart_is_rendered_is_logged_and_leaves_nothing(tmp_path):
    """Helm 2's helm-fail renders the chart first (helm fetch, helm template): SIGTERM then still logs
    the call (143), kills that helm child and removes the scratch copy of the chart and its values."""
    fake = tmp_path / "fake-helm"  # a helm fetch that hangs
    fake.write_text(f'#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 300\n')
    fake.chmod(0o755)
    d = tmp_path / "d"
    helm = write_wrapper(d, fake, dialect=2)
    release, fault = faults.parse_fault("config-server=helm-fail")
    faults.save_faults(d, {release: fault})
    proc = subprocess.Popen([str(helm), "upgrade", "config-server", "c7n/config-server", "--version", "0.9.0"])
    pid = int(_wait("the render's helm started", lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text()))
    try:
        _wait("the render's helm exec'd sleep", lambda: Path(f"/proc/{pid}/exe").resolve().name == "sleep")
        assert list(d.glob(".helm2-render-*"))  # the render had begun
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == -signal.SIGTERM
        _wait("the render's helm ended with the wrapper", lambda: _gone(pid), timeout=10)
        assert not list(d.glob(".helm2-render-*"))
        calls = [json.loads(line) for line in (d / "helm-calls.jsonl").read_text().splitlines()]
        assert [(c["argv"][:2], c["exit"]) for c in calls] == [(["upgrade", "config-server"], 143)]
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)
