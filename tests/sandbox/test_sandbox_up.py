"""The sandbox alone (contract): `python -m c7n_sandbox up --dir D` in a subprocess.

It must write D/env.yaml only once every 0.8 service is up; the guide's own verification commands
must work verbatim against it (real kubectl, curl and jq); SIGTERM must stop everything.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
NS = "choerodon-devops-prod"
TOOLS = ("kubectl", "curl", "jq")


def _mariadb_available() -> bool:
    return bool((shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd"))
                and (shutil.which("mariadb-install-db")))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"needs {', '.join(missing)} on PATH", pytrace=False)
    if not _mariadb_available():
        pytest.fail("MariaDB server binaries missing: apt-get install mariadb-server", pytrace=False)
    d = tmp_path_factory.mktemp("sbx")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = open(d / "stdout.log", "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "c7n_sandbox", "up", "--dir", str(d)],
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(ROOT),
                            env=env, start_new_session=True)
    out.close()
    try:
        deadline = time.monotonic() + 120
        while not (d / "env.yaml").exists():
            if proc.poll() is not None:
                pytest.fail(f"sandbox exited with {proc.returncode}:\n{(d / 'stdout.log').read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no env.yaml after 120s:\n{(d / 'stdout.log').read_text()}")
            time.sleep(0.05)
        startup = time.monotonic() - t0
        print(f"\nsandbox start-up time: {startup:.2f}s (until env.yaml appeared)")
        yield {"dir": d, "proc": proc, "startup": startup}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def bash(sandbox, command: str) -> subprocess.CompletedProcess:
    d = sandbox["dir"]
    env = dict(os.environ, KUBECONFIG=str(d / "kubeconfig"), KUBECACHEDIR=str(d / "kube-cache"))
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)


def kubectl_json(sandbox, *args):
    res = bash(sandbox, "kubectl " + " ".join(args) + " -o json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def descendants(pid: int) -> list[int]:
    """Every descendant process id (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def accepts(ip, port) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


def test_env_file_and_private_files(sandbox):
    d = sandbox["dir"]
    env = yaml.safe_load((d / "env.yaml").read_text())
    assert env["sandbox"] is True and env["namespace"] == NS and env["access"] == "direct"
    assert env["name"] == "sandbox"  # not its directory: every sandbox run shares one report trend
    assert env["helm"]["binary"] == str(d / "bin" / "helm") and os.access(env["helm"]["binary"], os.X_OK)
    assert env["mysql"]["admin_password"] == "${C7N_MYSQL_ROOT_PASSWORD}"
    secrets_env = (d / "secrets.env").read_text()
    for name in ("C7N_MYSQL_ROOT_PASSWORD", "C7N_MYSQL_PASSWORD", "C7N_ADMIN_PASSWORD", "C7N_OAUTH_CLIENT_SECRET",
                 "C7N_FRONT_CLIENT_SECRET"):
        assert f"{name}=" in secrets_env
        value = next(l.split("=", 1)[1] for l in secrets_env.splitlines() if l.startswith(name + "="))
        assert value and value not in (d / "env.yaml").read_text()
    for private in ("secrets.env", "kubeconfig"):
        assert stat.S_IMODE((d / private).stat().st_mode) == 0o600
    config = json.loads((d / "sandbox.json").read_text())
    assert config["namespace"] == NS and config["helm_dialect"] == 2
    # the suite's own loader accepts it
    from c7n_upgrade.config import load_env

    loaded = load_env(str(d / "env.yaml"), ROOT / "envs")
    assert loaded.namespace == NS


def test_guide_health_check_verbatim(sandbox):
    res = bash(sandbox, 'curl -s $(kubectl get po -n choerodon-devops-prod -l choerodon.io/release=iam-service '
                        '-o jsonpath="{.items[0].status.podIP}"):8031/health | jq -r .status')
    assert res.stdout.strip() == "UP", res.stderr


def test_guide_eureka_check_verbatim(sandbox):
    res = bash(sandbox, 'curl $(kubectl get svc register-server -o jsonpath="{.spec.clusterIP}" '
                        '-n choerodon-devops-prod):8000/eureka/apps')
    assert res.returncode == 0, res.stderr
    apps = json.loads(res.stdout)["applications"]["application"]
    versions = {a["name"]: {i["metadata"]["VERSION"] for i in a["instance"]} for a in apps}
    assert versions["go-register-server"] == {"0.8.0"}
    assert versions["iam-service"] == {"0.8.0"} and versions["devops-service"] == {"0.8.1"}
    # the instances are this sandbox's pods (not another process's)
    pods = kubectl_json(sandbox, "get po -n", NS)["items"]
    ips = {p["status"]["podIP"] for p in pods}
    assert {i["ipAddr"] for a in apps for i in a["instance"]} <= ips
    assert "notify-service" not in versions and "asgard-service" not in versions


def test_every_08_release_is_up(sandbox):
    pods = kubectl_json(sandbox, "get po -n", NS)["items"]
    releases = {p["metadata"]["labels"]["choerodon.io/release"] for p in pods}
    assert len(releases) == 14 and "notify-service" not in releases
    for p in pods:
        assert p["status"]["phase"] == "Running"
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
    res = bash(sandbox, f"{sandbox['dir'] / 'bin' / 'helm'} list")
    assert res.returncode == 0 and "iam-service" in res.stdout and "0.8.0" in res.stdout
    front = bash(sandbox, 'curl -s $(kubectl get svc choerodon-front -o jsonpath="{.spec.clusterIP}" '
                          '-n choerodon-devops-prod):$(kubectl get svc choerodon-front '
                          '-o jsonpath="{.spec.ports[0].port}" -n choerodon-devops-prod)')
    assert "<title>Choerodon</title>" in front.stdout


def _secrets(d: Path) -> dict:
    from c7n_upgrade.config import read_secrets_file

    return read_secrets_file(d / "secrets.env")  # dotenv quoting: a secret may hold any text


def test_mysql_serves_the_08_state_through_the_env_address(sandbox):
    import pymysql

    d = sandbox["dir"]
    env = yaml.safe_load((d / "env.yaml").read_text())
    sec = _secrets(d)
    time.sleep(0.5)  # still up a moment after ready (not tied to a finished thread)
    conn = pymysql.connect(host=env["mysql"]["host"], port=env["mysql"]["port"], user="root",
                           password=sec["C7N_MYSQL_ROOT_PASSWORD"], connect_timeout=5)
    with conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        names = {r[0] for r in cur.fetchall()}
    assert {"manager_service", "devops_service", "iam_service"} <= names
    assert "notify_service" not in names and "asgard_service" not in names
    conn = pymysql.connect(host=env["mysql"]["host"], port=env["mysql"]["port"], user="choerodon",
                           password=sec["C7N_MYSQL_PASSWORD"], database="devops_service", connect_timeout=5)
    conn.close()


def test_fault_command_changes_a_running_sandbox(sandbox):
    d = sandbox["dir"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = lambda *a: subprocess.run([sys.executable, "-m", "c7n_sandbox", "fault", "--dir", str(d), *a],
                                    env=env, capture_output=True, text=True, timeout=30)
    res = run("iam-service=slow-start:2")
    assert res.returncode == 0, res.stderr
    assert json.loads((d / "faults.json").read_text())["iam-service"] == {"kind": "slow-start", "arg": "2"}
    assert run("iam-service=bogus").returncode == 2
    res = run("--clear", "iam-service")
    assert res.returncode == 0 and json.loads((d / "faults.json").read_text()) == {}


def test_sigterm_stops_everything(sandbox):
    proc = sandbox["proc"]
    pods = kubectl_json(sandbox, "get po -n", NS)["items"]
    svcs = kubectl_json(sandbox, "get svc -n", NS)["items"]
    endpoints = [(p["status"]["podIP"], int(p["metadata"]["labels"]["choerodon.io/metrics-port"])) for p in pods]
    endpoints += [(s["spec"]["clusterIP"], s["spec"]["ports"][0]["port"]) for s in svcs]
    config = json.loads((sandbox["dir"] / "sandbox.json").read_text())
    api_host, api_port = config["api_url"].split("//")[1].split(":")
    endpoints.append((api_host, int(api_port)))
    env = yaml.safe_load((sandbox["dir"] / "env.yaml").read_text())
    endpoints.append(("127.0.0.1", env["mysql"]["port"]))
    endpoints.append((env["gitlab"]["ssh_host"], env["gitlab"]["ssh_port"]))
    assert all(accepts(ip, port) for ip, port in endpoints)
    children = descendants(proc.pid)
    assert children, "the sandbox runs mariadbd as a child"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    print(f"\nsandbox stop time: {time.monotonic() - t0:.2f}s")
    left = [(ip, port) for ip, port in endpoints if accepts(ip, port)]
    assert not left, f"still accepting connections: {left}"
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]]
    assert not alive, f"child processes still running: {alive}"
    assert "sandbox: stopped" in (sandbox["dir"] / "stdout.log").read_text()
