"""Choerodon services on the real control plane (issue 16): a real Helm 3 installs charts of the
sandbox's c7n repo (chart archives), the node serves each Choerodon image's behaviour on its pod IP,
readiness comes from the chart's own probe, Services answer on their loopback clusterIP, and the
pod-level faults act through the node (faults.json, re-read when it changes)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from c7n_sandbox import charts, faults
from tests.sandbox.test_control_plane import _wait

pytestmark = pytest.mark.sandbox

NS = "c7n-node-tests"
REGISTRY = "registry.cn-hangzhou.aliyuncs.com/choerodon"


class Env:
    """The module's cluster: control plane, node, MariaDB behind its db-down proxy, real helm."""

    def __init__(self, control_plane, node, directory, helm, db, proxy):
        self.cp, self.node, self.dir, self.helm_binary, self.db, self.proxy = \
            control_plane, node, directory, helm, db, proxy
        from c7n_upgrade.plan import load_plan
        self.catalogue = {(c.name, c.version): c for c in charts.catalogue(load_plan("0.8-to-0.9"))}

    def helm(self, *args, check=True, timeout=120):
        env = dict(os.environ, KUBECONFIG=str(self.cp.kubeconfig), HOME=str(self.dir),
                   HELM_CACHE_HOME=str(self.dir / "helm-cache"), HELM_CONFIG_HOME=str(self.dir / "helm-config"),
                   HELM_DATA_HOME=str(self.dir / "helm-data"))
        result = subprocess.run([str(self.helm_binary), *args, "-n", NS], env=env, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def install(self, release, chart, version, *sets, wait=True, check=True, verb="install"):
        archive = self.dir / f"{chart}-{version}.tgz"
        archive.write_bytes(charts.chart_tgz(self.catalogue[(chart, version)]))
        extra = ["--wait", "--timeout", "90s"] if wait else []
        return self.helm(verb, release, str(archive), *extra, *[a for s in sets for a in ("--set", s)], check=check)

    def kubectl(self, *args):
        return self.cp.kubectl(*args, "-n", NS)

    def get(self, *args) -> dict:
        result = self.kubectl("get", *args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def pods(self, release) -> list[dict]:
        return self.get("pods", "-l", f"choerodon.io/release={release}")["items"]

    def fault(self, release, kind=None, arg=None):
        if kind:
            faults.set_fault(self.dir, release, kind, arg)
        else:
            faults.clear_fault(self.dir, release)


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def _waiting(env, release: str, *reasons: str):
    """The release's pod and its container's waiting state, once that is one of `reasons`."""
    pods = env.pods(release)
    statuses = pods[0]["status"].get("containerStatuses") if pods else None
    waiting = (statuses[0]["state"].get("waiting") or {}) if statuses else {}
    return (pods[0], waiting) if waiting.get("reason") in reasons else None


def _http(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def env(control_plane, tmp_path_factory):
    from c7n_sandbox.mariadb import MariaDB, MariaDBMissing, TcpProxy, ensure_binaries
    from c7n_sandbox.node import Node
    from tests.real_tools import real_tool
    directory = tmp_path_factory.mktemp("c7n-node")
    helm = real_tool("helm")
    try:
        ensure_binaries()
    except MariaDBMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    db = MariaDB(directory / "mysql", secrets.token_urlsafe(12)).start()
    proxy = TcpProxy("127.0.0.1", "127.0.0.1", db.port).start()
    app_password = secrets.token_urlsafe(12)
    with db.admin_connection() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE notify_service")
        cur.execute("CREATE USER 'choerodon'@'%%' IDENTIFIED BY %s", (app_password,))
        cur.execute("GRANT ALL PRIVILEGES ON notify_service.* TO 'choerodon'@'%'")
    db.app_password = app_password
    admin = {"host": "127.0.0.1", "port": proxy.address[1], "user": "root", "password": db.root_password}
    node = Node(control_plane.kubeconfig, directory / "node", log=print, choerodon={
        "namespace": NS, "sandbox_dir": directory, "mysql_admin": admin, "mysql_proxy": proxy,
        "bootstrapped": True, "privileged_ports": False}).start()   # as without root, even as root
    assert control_plane.kubectl("create", "namespace", NS).returncode == 0
    _wait("the default ServiceAccount of the test namespace",
          lambda: control_plane.kubectl("get", "serviceaccount", "default", "-n", NS).returncode == 0)
    yield Env(control_plane, node, directory, helm, db, proxy)
    control_plane.kubectl("delete", "namespace", NS, "--wait=false")
    node.stop()
    control_plane.kubectl("delete", "node", node.name, "--wait=false")  # the next module starts with no node
    proxy.stop()
    db.stop()


@pytest.fixture(scope="module")
def platform(env):
    """register-server, config-server, notify-service (MariaDB) and choerodon-front installed at once,
    each with helm --wait."""
    started = time.monotonic()
    url = f"jdbc:mysql://127.0.0.1:{env.proxy.address[1]}/notify_service?useSSL=false"
    installs = [("register-server", "go-register-server"), ("config-server", "config-server"),
                ("notify-service", "notify-service", f"env.open.SPRING_DATASOURCE_URL={url}",
                 "env.open.SPRING_DATASOURCE_USERNAME=choerodon",
                 f"env.open.SPRING_DATASOURCE_PASSWORD={env.db.app_password}"),
                ("choerodon-front", "choerodon-front")]
    version = {"choerodon-front": "0.9.1"}
    with ThreadPoolExecutor(len(installs)) as pool:
        for done in [pool.submit(env.install, release, chart, version.get(chart, "0.9.0"), *sets)
                     for release, chart, *sets in installs]:
            done.result()
    env.installed_s = time.monotonic() - started
    print(f"four releases installed and Ready with helm --wait in {env.installed_s:.1f} s")
    return env


def test_services_become_ready_through_their_own_readiness_probe(platform):
    for release, chart, port in (("register-server", "go-register-server", 8000),
                                 ("config-server", "config-server", 8011),
                                 ("notify-service", "notify-service", 18086)):
        [pod] = platform.pods(release)
        assert _ready(pod), pod["status"]
        [status] = pod["status"]["containerStatuses"]
        assert status["image"] == f"{REGISTRY}/{chart}:0.9.0" and status["restartCount"] == 0
        assert pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == port
        code, health = _http(f"http://{pod['status']['podIP']}:{port}/health")
        assert (code, health["status"]) == (200, "UP"), health
    code, health = _http(f"http://{platform.pods('notify-service')[0]['status']['podIP']}:18086/health")
    assert health["db"] == {"status": "UP", "database": "MySQL", "hello": 1}
    assert health["configServer"]["status"] == "UP" and health["discoveryComposite"]["status"] == "UP"


def test_info_and_the_eureka_registry_name_the_versions(platform):
    [config] = platform.pods("config-server")
    assert _http(f"http://{config['status']['podIP']}:8011/info") == \
        (200, {"build": {"artifact": "config-server", "name": "config-server", "version": "0.9.0"}})
    [register] = platform.pods("register-server")
    code, apps = _http(f"http://{register['status']['podIP']}:8000/eureka/apps")
    assert code == 200
    versions = {app["name"]: [i["metadata"]["VERSION"] for i in app["instance"]]
                for app in apps["applications"]["application"]}
    assert versions == {"go-register-server": ["0.9.0"], "config-server": ["0.9.0"], "notify-service": ["0.9.0"],
                        "choerodon-front": ["0.9.1"]}
    ips = {i["ipAddr"] for app in apps["applications"]["application"] for i in app["instance"]}
    assert config["status"]["podIP"] in ips


def test_the_log_shows_the_spring_boot_start(platform):
    [pod] = platform.pods("config-server")
    log = platform.kubectl("logs", pod["metadata"]["name"]).stdout
    assert "ConfigServerApplication: Starting ConfigServerApplication v0.9.0" in log
    assert f"Tomcat started on port(s): 8010, 8011 (http) on {pod['status']['podIP']}" in log


def test_curl_to_the_cluster_ip_reaches_a_ready_pod(platform):
    svc = platform.get("service", "register-server")
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    assert ip.startswith("127.96.")
    result = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://{ip}:{port}/eureka/apps"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "config-server" in result.stdout
    endpoints = platform.get("endpoints", "register-server")
    assert not endpoints.get("subsets"), endpoints   # loopback pod IPs: the API server refuses them there


def test_without_root_the_front_is_served_8000_higher_on_its_cluster_ip(platform):
    svc = platform.get("service", "choerodon-front")
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(8080, 80)]
    result = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://{svc['spec']['clusterIP']}:8080/"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "<title>Choerodon</title>" in result.stdout, result.stderr


def test_db_down_makes_the_db_service_down_and_clearing_it_brings_it_back(platform):
    [pod] = platform.pods("notify-service")
    health = f"http://{pod['status']['podIP']}:18086/health"
    platform.fault("notify-service", "db-down")
    try:
        _wait("notify-service db DOWN", lambda: _http(health)[0] == 503, timeout=15)
        assert _http(health)[1]["db"]["status"] == "DOWN"
        assert platform.proxy.refusing
    finally:
        platform.fault("notify-service")
    _wait("notify-service UP again", lambda: _http(health)[0] == 200, timeout=15)


def test_a_never_up_pod_is_never_ready_and_clearing_the_fault_readies_it(platform):
    platform.fault("manager-service", "never-up")
    platform.install("manager-service", "manager-service", "0.9.0", wait=False)

    def unhealthy():
        [pod] = platform.pods("manager-service") or [None]
        events = platform.get("events", "--field-selector", f"involvedObject.name={pod['metadata']['name']}") \
            if pod else {"items": []}
        return pod, [e for e in events["items"] if e["reason"] == "Unhealthy"]
    pod, events = _wait("an Unhealthy event of manager-service", lambda: (lambda p, e: (p, e) if e else None)(
        *unhealthy()), timeout=30)
    assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in events[0]["message"]
    assert not _ready(platform.pods("manager-service")[0])
    code, body = _http(f"http://{pod['status']['podIP']}:8964/health")
    assert code == 503 and body["refreshScope"]["status"] == "DOWN"
    platform.fault("manager-service")
    _wait("manager-service Ready once the fault is cleared", lambda: _ready(platform.pods("manager-service")[0]),
          timeout=20)


def test_slow_start_listens_late_and_flap_alternates_health(platform):
    platform.fault("test-manager-service", "slow-start", "6")
    platform.fault("wiki-service", "flap", "1")
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(platform.install, "test-manager-service", "test-manager-service", "0.9.2")
            flap = pool.submit(platform.install, "wiki-service", "wiki-service", "0.9.1", wait=False)
            flap.result()
            [pod] = _wait("a wiki-service pod with its IP", lambda: [p for p in platform.pods("wiki-service")
                                                                     if p["status"].get("podIP")], timeout=20)
            health = f"http://{pod['status']['podIP']}:9991/health"
            _wait("wiki-service listening", lambda: _http_or_none(health), timeout=10)
            seen = set()
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline and len(seen) < 2:
                seen.add(_http(health)[0])
                time.sleep(0.2)
            assert seen == {200, 503}
            slow.result()
        assert time.monotonic() - started >= 6
        [pod] = platform.pods("test-manager-service")
        events = platform.get("events", "--field-selector", f"involvedObject.name={pod['metadata']['name']}")
        refused = [e["message"] for e in events["items"] if e["reason"] == "Unhealthy"]
        assert refused and "connect: connection refused" in refused[0], refused
    finally:
        platform.fault("test-manager-service")
        platform.fault("wiki-service")


def _http_or_none(url: str):
    try:
        return _http(url)
    except OSError:
        return None


def test_crash_loop_reaches_crash_loop_back_off_with_the_log_in_previous(platform):
    platform.fault("iam-service", "crash-loop")
    try:
        platform.install("iam-service", "iam-service", "0.9.0", wait=False)
        pod, _ = _wait("iam-service in CrashLoopBackOff", lambda: _waiting(platform, "iam-service", "CrashLoopBackOff"),
                       timeout=30)
        [status] = pod["status"]["containerStatuses"]
        assert status["lastState"]["terminated"]["exitCode"] == 1 and status["restartCount"] >= 1
        previous = platform.kubectl("logs", pod["metadata"]["name"], "--previous")
        assert previous.returncode == 0, previous.stderr
        assert "Application run failed" in previous.stdout and "sandbox fault crash-loop" in previous.stdout
    finally:
        platform.fault("iam-service")


def test_image_missing_makes_the_new_image_fail_to_pull(platform):
    platform.fault("file-service", "image-missing")
    try:
        platform.install("file-service", "file-service", "0.9.0", wait=False)
        _, waiting = _wait("file-service ErrImagePull", lambda: _waiting(platform, "file-service", "ErrImagePull",
                                                                         "ImagePullBackOff"), timeout=30)
        assert f"{REGISTRY}/file-service:0.9.0: not found" in waiting["message"]
    finally:
        platform.fault("file-service")


def test_wrong_version_keeps_the_old_version_label_in_eureka(platform):
    platform.install("gateway-helper", "gateway-helper", "0.8.0", wait=False)
    platform.fault("gateway-helper", "wrong-version")
    try:
        platform.install("gateway-helper", "gateway-helper", "0.9.0", verb="upgrade")
        [register] = platform.pods("register-server")
        _, apps = _http(f"http://{register['status']['podIP']}:8000/eureka/apps")
        [helper] = [a for a in apps["applications"]["application"] if a["name"] == "gateway-helper"]
        assert [i["metadata"]["VERSION"] for i in helper["instance"]] == ["0.8.0"]
        [pod] = platform.pods("gateway-helper")
        assert pod["spec"]["containers"][0]["image"].endswith(":0.9.0")
        assert _http(f"http://{pod['status']['podIP']}:9181/info")[1]["build"]["version"] == "0.9.0"
    finally:
        platform.fault("gateway-helper")


def test_hook_fail_makes_the_hook_job_fail_with_its_log(platform):
    platform.fault("oauth-server", "hook-fail")
    try:
        result = platform.install("oauth-server", "oauth-server", "0.9.0", wait=False, check=False)
        assert result.returncode != 0 and "BackoffLimitExceeded" in result.stderr, result.stderr
        job = platform.get("job", "oauth-server-init-config")
        failed = [c for c in job["status"]["conditions"] if c["type"] == "Failed"]
        assert failed and failed[0]["reason"] == "BackoffLimitExceeded", job["status"]
        pods = platform.get("pods", "-l", "job-name=oauth-server-init-config")["items"]
        assert len(pods) == 2 and all(p["status"]["phase"] == "Failed" for p in pods)
        log = platform.kubectl("logs", pods[0]["metadata"]["name"]).stdout
        assert "Migration failed" in log and "sandbox fault hook-fail" in log
    finally:
        platform.fault("oauth-server")
