"""The sandbox runtime in-process: a real Store, the real charts.render, the Runtime; no MariaDB.

Pods answer on their own 127.20.x.y address; the tests talk to them over real HTTP.
"""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import behaviours, charts, faults
from c7n_upgrade.sandbox.runtime import Runtime
from c7n_upgrade.sandbox.apiserver import Store
from tests.sandbox.kubectl_output import wait_for

pytestmark = pytest.mark.sandbox

PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace
ADMIN_PASSWORD = "admin-pw-for-tests"
CLIENT_SECRET = "client-secret-for-tests"


# ------------------------------------------------------------------------------ helpers

def http(method, url, body=None, headers=None, timeout=3):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def get_json(url, headers=None):
    status, _, body = http("GET", url, headers=headers)
    return status, (json.loads(body) if body else None)


def refused(ip, port) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return False
    except OSError:
        return True


def install(store, release, version=None, *, values=None, chart=None, replicas=1, labels_patch=None):
    """Render a plan chart and create (or replace) its Deployment and Service in the store."""
    step = next(s for s in PLAN.steps if s.release == release or s.chart == (chart or release))
    chart = chart or step.chart
    version = version or step.from_version or step.version
    vals = {"replicaCount": replicas, "env": {"open": {}}}
    if values:
        vals = charts.deep_merge(vals, values)
    objs = charts.render(release, chart, version, vals, NS, step.health_port, step.service_port)
    for obj in objs:
        if obj["kind"] == "Deployment" and labels_patch:
            obj["spec"]["template"]["metadata"]["labels"].update(labels_patch)
        resource = {"Deployment": "deployments.apps", "Service": "services"}.get(obj["kind"])
        if resource is None:
            continue
        try:
            current = store.get(resource, NS, obj["metadata"]["name"])
        except Exception:
            store.create(resource, obj, NS)
        else:
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if resource == "services":
                obj["spec"]["clusterIP"] = current["spec"]["clusterIP"]
            store.replace(resource, obj, NS)


def pods_of(store, release):
    return store.list("pods", NS, label_selector=f"choerodon.io/release={release}")


def is_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def ready_pods(store, release, version=None):
    return [p for p in pods_of(store, release) if is_ready(p)
            and (version is None or p["metadata"]["labels"]["choerodon.io/version"] == version)]


def health_of(pod, port):
    return get_json(f"http://{pod['status']['podIP']}:{port}/health")


class FakeProxy:
    def __init__(self):
        self.calls = []

    def refuse(self, on):
        self.calls.append(bool(on))


@pytest.fixture
def world(tmp_path):
    store = Store()
    proxy = FakeProxy()
    rt = Runtime(store, tmp_path, PLAN, NS, admin_password=ADMIN_PASSWORD, oauth_client_secret=CLIENT_SECRET,
                 start_delay=(0.05, 0.15), readiness_interval=0.05, job_delay=0.05, mysql_proxy=proxy)
    rt.start()
    yield store, rt, tmp_path
    rt.stop()


def base(store):
    """register-server and config-server up (the framework every service needs)."""
    install(store, "register-server")
    install(store, "config-server")
    wait_for(lambda: ready_pods(store, "register-server") and ready_pods(store, "config-server"),
             what="register-server and config-server Ready")


# ------------------------------------------------------------------------------ pods

def test_deployment_creates_pods_with_distinct_loopback_ips_answering_health(world):
    store, rt, _ = world
    base(store)
    install(store, "iam-service", replicas=3)
    pods = wait_for(lambda: len(ready_pods(store, "iam-service")) == 3 and ready_pods(store, "iam-service"),
                    what="3 iam pods Ready")
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 3
    for p in pods:
        assert p["status"]["podIP"].startswith("127.20.")
        assert p["status"]["phase"] == "Running"
        assert p["metadata"]["name"].startswith("iam-service-")
        assert len(p["metadata"]["name"].split("-")[-1]) == 5
        cs = p["status"]["containerStatuses"][0]
        assert cs["ready"] is True and cs["started"] is True and "running" in cs["state"]
        labels = p["metadata"]["labels"]
        assert labels["choerodon.io/version"] == "0.8.0" and labels["choerodon.io/metrics-port"] == "8031"
        status, body = health_of(p, 8031)
        assert status == 200 and body["status"] == "UP"
        assert body["diskSpace"]["status"] == "UP" and body["diskSpace"]["threshold"] == 10485760
        status, _, _ = http("GET", f"http://{p['status']['podIP']}:8030/v2/choerodon/api-docs")
        assert status == 200
    dep = wait_for(lambda: (d := store.get("deployments.apps", NS, "iam-service"))["status"].get("readyReplicas") == 3
                   and d, what="deployment status")
    assert dep["status"]["updatedReplicas"] == 3 and dep["status"]["availableReplicas"] == 3
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    reasons = {e["reason"] for e in store.list("events", NS)}
    assert {"Scheduled", "Started"} <= reasons


def test_template_change_rolls_pods_and_removes_the_old_ones(world):
    store, rt, _ = world
    base(store)
    install(store, "manager-service", replicas=2)
    old = wait_for(lambda: len(ready_pods(store, "manager-service")) == 2 and ready_pods(store, "manager-service"))
    old_ips = [p["status"]["podIP"] for p in old]
    install(store, "manager-service", "0.9.0", replicas=2)
    # the old pods keep serving until the new ones are Ready
    assert all(not refused(ip, 8964) for ip in old_ips)
    new = wait_for(lambda: (ps := pods_of(store, "manager-service")) and len(ps) == 2 and all(
        is_ready(p) and p["metadata"]["labels"]["choerodon.io/version"] == "0.9.0" for p in ps) and ps,
        what="rolled to 0.9.0")
    assert not set(old_ips) & {p["status"]["podIP"] for p in new}
    wait_for(lambda: all(refused(ip, 8964) for ip in old_ips), what="old pod listeners closed")
    reasons = [e["reason"] for e in store.list("events", NS)
               if e["involvedObject"]["name"] in {p["metadata"]["name"] for p in old}]
    assert "Killing" in reasons
    dep = store.get("deployments.apps", NS, "manager-service")
    assert dep["metadata"]["generation"] == 2
    wait_for(lambda: store.get("deployments.apps", NS, "manager-service")["status"].get("observedGeneration") == 2)


def test_deleted_pod_is_replaced_and_stops_listening(world):
    store, rt, _ = world
    base(store)
    pod = ready_pods(store, "config-server")[0]
    store.delete("pods", NS, pod["metadata"]["name"])
    wait_for(lambda: refused(pod["status"]["podIP"], 8011), what="listener stopped")
    wait_for(lambda: [p for p in ready_pods(store, "config-server") if p["metadata"]["name"] != pod["metadata"]["name"]],
             what="replacement pod")


def test_readiness_follows_health_and_framework_dependencies(world):
    store, rt, _ = world
    install(store, "config-server")
    install(store, "iam-service")
    # no register-server: config-server is DOWN (discovery), iam DOWN (discovery and config)
    pod = wait_for(lambda: [p for p in pods_of(store, "config-server") if p["status"]["phase"] == "Running"])[0]
    status, body = wait_for(lambda: (r := health_of(pod, 8011)) and r, what="config health")
    assert status == 503 and body["status"] == "DOWN" and body["discoveryComposite"]["status"] == "DOWN"
    iam = wait_for(lambda: [p for p in pods_of(store, "iam-service") if p["status"]["phase"] == "Running"])[0]
    status, body = health_of(iam, 8031)
    assert status == 503 and body["configServer"]["status"] == "DOWN"
    time.sleep(0.3)
    assert not ready_pods(store, "config-server") and not ready_pods(store, "iam-service")
    assert any(e["reason"] == "Unhealthy" for e in store.list("events", NS))
    install(store, "register-server")
    wait_for(lambda: ready_pods(store, "iam-service"), what="iam Ready once the framework is up")
    assert health_of(iam, 8031)[0] == 200
    # config-server gone: everything but register-server goes DOWN
    store.delete("deployments.apps", NS, "config-server")
    wait_for(lambda: not ready_pods(store, "iam-service"), what="iam not Ready without config-server")
    assert ready_pods(store, "register-server")
    assert health_of(iam, 8031)[1]["configServer"]["status"] == "DOWN"


def test_devops_093_is_down_without_the_crd_and_up_with_it(world):
    store, rt, _ = world
    base(store)
    install(store, "devops-service")  # 0.8.1 needs no CRD
    wait_for(lambda: ready_pods(store, "devops-service", "0.8.1"))
    install(store, "devops-service", "0.9.3")
    new = wait_for(lambda: [p for p in pods_of(store, "devops-service")
                            if p["metadata"]["labels"]["choerodon.io/version"] == "0.9.3"
                            and p["status"]["phase"] == "Running"])[0]
    time.sleep(0.3)
    status, body = health_of(new, 8061)
    assert status == 503 and body["c7nHelmRelease"]["status"] == "DOWN"
    assert ready_pods(store, "devops-service", "0.8.1"), "the old pod keeps serving"
    crd = PLAN.crd
    store.create("customresourcedefinitions.apiextensions.k8s.io", {
        "apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
        "metadata": {"name": crd.name},
        "spec": {"group": crd.group, "version": crd.version, "scope": crd.scope, "names": crd.names}})
    wait_for(lambda: ready_pods(store, "devops-service", "0.9.3"), what="devops 0.9.3 Ready with the CRD")
    wait_for(lambda: not ready_pods(store, "devops-service", "0.8.1"), what="old devops pod gone")


def test_notify_is_down_without_its_database(world):
    store, rt, _ = world
    base(store)
    url = "jdbc:mysql://127.0.0.1:1/notify_service?useUnicode=true&characterEncoding=utf-8&useSSL=false"
    install(store, "notify-service", "0.9.0", values={"env": {"open": {
        "SPRING_DATASOURCE_URL": url, "SPRING_DATASOURCE_USERNAME": "choerodon",
        "SPRING_DATASOURCE_PASSWORD": "x"}}})
    pod = wait_for(lambda: [p for p in pods_of(store, "notify-service") if p["status"]["phase"] == "Running"])[0]
    status, body = health_of(pod, 18086)
    assert status == 503 and body["db"]["status"] == "DOWN"
    time.sleep(0.2)
    assert not ready_pods(store, "notify-service")


# ------------------------------------------------------------------------------ services

def test_service_forwards_to_a_ready_pod(world):
    store, rt, _ = world
    base(store)
    svc = store.get("services", NS, "config-server")
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    assert ip.startswith("127.10.") and port == 8010
    status, _, _ = wait_for(lambda: (r := _try(lambda: http("GET", f"http://{ip}:{port}/v2/choerodon/api-docs"))) and r)
    assert status == 200
    reg = store.get("services", NS, "register-server")
    status, body = get_json(f"http://{reg['spec']['clusterIP']}:8000/eureka/apps")
    assert status == 200 and "applications" in body


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def test_unprivileged_service_port_moves_to_8080(tmp_path):
    store = Store()
    rt = Runtime(store, tmp_path, PLAN, NS, start_delay=(0.05, 0.1), readiness_interval=0.05,
                 privileged_ports=False)
    rt.start()
    try:
        install(store, "choerodon-front")
        svc = wait_for(lambda: (s := store.get("services", NS, "choerodon-front"))["spec"]["ports"][0]["port"] != 80
                       and s, what="port moved")
        assert svc["spec"]["ports"][0]["port"] == 8080 and svc["spec"]["ports"][0]["targetPort"] == 80
        wait_for(lambda: ready_pods(store, "choerodon-front"))
        status, headers, body = wait_for(
            lambda: _try(lambda: http("GET", f"http://{svc['spec']['clusterIP']}:8080/")), what="front answers")
        assert status == 200 and body.decode() == behaviours.FRONT_HTML
        assert headers["Content-Type"].startswith("text/html")
    finally:
        rt.stop()


def test_front_serves_the_guide_html_on_port_80_as_root(world):
    store, rt, _ = world
    if not rt.privileged:
        pytest.skip("needs root to bind port 80")
    install(store, "choerodon-front")
    pod = wait_for(lambda: ready_pods(store, "choerodon-front"))[0]
    svc = store.get("services", NS, "choerodon-front")
    assert svc["spec"]["ports"][0]["port"] == 80
    for url in (f"http://{pod['status']['podIP']}/", f"http://{svc['spec']['clusterIP']}/"):
        status, headers, body = http("GET", url)
        assert status == 200 and body.decode() == behaviours.FRONT_HTML


# ------------------------------------------------------------------------------ register-server

def test_eureka_apps_shape_and_filtering(world):
    store, rt, _ = world
    base(store)
    install(store, "iam-service")
    wait_for(lambda: ready_pods(store, "iam-service"))
    # a pod without the metrics-port label and a not-ready pod are not listed
    install(store, "file-service", labels_patch={"choerodon.io/metrics-port": None})
    dep = store.get("deployments.apps", NS, "file-service")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    labels.pop("choerodon.io/metrics-port", None)
    store.replace("deployments.apps", dep, NS)
    wait_for(lambda: [p for p in pods_of(store, "file-service") if p["status"]["phase"] == "Running"])
    reg = ready_pods(store, "register-server")[0]
    status, headers, raw = http("GET", f"http://{reg['status']['podIP']}:8000/eureka/apps",
                                headers={"Accept": "application/xml"})
    assert status == 200 and headers["Content-Type"].startswith("application/json")  # always JSON
    apps = json.loads(raw)["applications"]
    assert apps["apps__hashcode"] == "app_hashcode" and apps["versions__delta"] == 2
    by_name = {a["name"]: a for a in apps["application"]}
    assert set(by_name) == {"go-register-server", "config-server", "iam-service"}
    inst = by_name["iam-service"]["instance"][0]
    iam = ready_pods(store, "iam-service")[0]
    ip = iam["status"]["podIP"]
    assert inst["instanceId"] == f"{ip}:iam-service:8030"
    assert inst["app"] == "iam-service" and inst["status"] == "UP" and inst["overriddenstatus"] == "UNKNOWN"
    assert inst["port"] == {"@enabled": True, "$": 8030} and inst["securePort"]["$"] == 443
    assert inst["metadata"] == {"VERSION": "0.8.0"}
    assert inst["healthCheckUrl"] == f"http://{ip}:8031/health"
    assert inst["statusPageUrl"] == f"http://{ip}:8031/info" and inst["homePageUrl"] == f"http://{ip}:8030/"
    assert inst["countryId"] == 8 and inst["actionType"] == "ADDED" and inst["vipAddress"] == "iam-service"
    assert inst["dataCenterInfo"]["name"] == "MyOwn"
    # pods in another namespace are not listed
    other = store.get("deployments.apps", NS, "iam-service")
    other["metadata"] = {"name": "iam-service", "namespace": "default"}
    other.pop("status", None)
    store.create("deployments.apps", other, "default")
    wait_for(lambda: [p for p in store.list("pods", "default") if p["status"].get("phase") == "Running"])
    apps = get_json(f"http://{reg['status']['podIP']}:8000/eureka/apps")[1]["applications"]
    assert len({a["name"]: a for a in apps["application"]}["iam-service"]["instance"]) == 1


def test_eureka_lists_not_ready_pods_out(world):
    store, rt, tmp = world
    base(store)
    faults.set_fault(tmp, "iam-service", "never-up")
    rt.mark_bootstrapped()
    wait_for(lambda: rt.fault_for_release("iam-service"), what="the runtime reads faults.json")
    install(store, "iam-service", "0.9.0")
    wait_for(lambda: [p for p in pods_of(store, "iam-service") if p["status"]["phase"] == "Running"])
    reg = ready_pods(store, "register-server")[0]
    names = [a["name"] for a in get_json(f"http://{reg['status']['podIP']}:8000/eureka/apps")[1]["applications"]["application"]]
    assert "iam-service" not in names


# ------------------------------------------------------------------------------ faults

def _bootstrap_then_upgrade(store, rt, release, fault_spec, tmp_path, version="0.9.0"):
    base(store)
    install(store, release)
    wait_for(lambda: ready_pods(store, release), what=f"{release} 0.8 Ready")
    rt.mark_bootstrapped()
    name, fault = faults.parse_fault(fault_spec)
    faults.set_fault(tmp_path, name, fault.kind, fault.arg)
    wait_for(lambda: rt.fault_for_release(name), what="the runtime reads faults.json")
    install(store, release, version)


def test_fault_never_up_then_cleared_comes_up(world):
    store, rt, tmp = world
    _bootstrap_then_upgrade(store, rt, "iam-service", "iam-service=never-up", tmp)
    new = wait_for(lambda: [p for p in pods_of(store, "iam-service")
                            if p["metadata"]["labels"]["choerodon.io/version"] == "0.9.0"
                            and p["status"]["phase"] == "Running"])[0]
    time.sleep(0.5)
    status, body = health_of(new, 8031)
    assert status == 503 and body["status"] == "DOWN"
    assert not ready_pods(store, "iam-service", "0.9.0")
    assert ready_pods(store, "iam-service", "0.8.0"), "old pod still serves"
    faults.clear_fault(tmp, "iam-service")
    wait_for(lambda: ready_pods(store, "iam-service", "0.9.0"), what="comes up after clear")
    wait_for(lambda: not ready_pods(store, "iam-service", "0.8.0"), what="old pod removed")


def test_fault_never_up_by_default_name_applies_to_renamed_release(tmp_path):
    store = Store()
    rt = Runtime(store, tmp_path, PLAN, NS, start_delay=(0.05, 0.1), readiness_interval=0.05,
                 release_names={"iam-service": "iam"}, bootstrapped=True)
    faults.set_fault(tmp_path, "iam-service", "never-up")
    rt.start()
    try:
        base(store)
        install(store, "iam", "0.9.0", chart="iam-service")
        pod = wait_for(lambda: [p for p in pods_of(store, "iam") if p["status"]["phase"] == "Running"])[0]
        time.sleep(0.3)
        assert health_of(pod, 8031)[0] == 503
    finally:
        rt.stop()


def test_fault_slow_start(world):
    store, rt, tmp = world
    _bootstrap_then_upgrade(store, rt, "gateway-helper", "gateway-helper=slow-start:1.5", tmp)
    t0 = time.monotonic()
    wait_for(lambda: ready_pods(store, "gateway-helper", "0.9.0"), timeout=10, what="slow pod Ready")
    assert time.monotonic() - t0 >= 1.3


def test_fault_wrong_version_keeps_the_old_label(world):
    store, rt, tmp = world
    _bootstrap_then_upgrade(store, rt, "oauth-server", "oauth-server=wrong-version", tmp)
    wait_for(lambda: (ps := pods_of(store, "oauth-server")) and len(ps) == 1 and is_ready(ps[0])
             and ps[0]["spec"]["containers"][0]["image"].endswith(":0.9.0"), what="rolled to the 0.9.0 image")
    pod = pods_of(store, "oauth-server")[0]
    assert pod["spec"]["containers"][0]["image"].endswith(":0.9.0")
    assert pod["metadata"]["labels"]["choerodon.io/version"] == "0.8.0"
    dep = store.get("deployments.apps", NS, "oauth-server")
    assert dep["spec"]["template"]["metadata"]["labels"]["choerodon.io/version"] == "0.9.0"


def test_fault_flap_alternates(world):
    store, rt, tmp = world
    _bootstrap_then_upgrade(store, rt, "file-service", "file-service=flap", tmp)
    pod = wait_for(lambda: [p for p in pods_of(store, "file-service")
                            if p["metadata"]["labels"]["choerodon.io/version"] == "0.9.0"
                            and p["status"]["phase"] == "Running"])[0]
    seen = set()
    wait_for(lambda: seen.add(health_of(pod, 9091)[1]["status"]) or seen == {"UP", "DOWN"},
             what="the pod's health seen both UP and DOWN")
    assert seen == {"UP", "DOWN"}


def release_record(dialect, release, revision):
    """What a helm (ours or a real one) stores for a new revision of `release`."""
    if dialect == 3:
        return "secrets", NS, {
            "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{release}.v{revision}",
                         "labels": {"name": release, "owner": "helm", "status": "pending-upgrade",
                                    "version": str(revision)}},
            "data": {"release": ""}}
    return "configmaps", "kube-system", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"{release}.v{revision}",
                     "labels": {"NAME": release, "OWNER": "TILLER", "STATUS": "PENDING_UPGRADE",
                                "VERSION": str(revision)}},
        "data": {"release": ""}}


@pytest.mark.parametrize("dialect", [2, 3], ids=["helm2", "helm3"])
def test_fault_db_down_from_the_release_revision_stored_after_bootstrap(world, dialect):
    store, rt, tmp = world
    resource, ns, record = release_record(dialect, "agile-service", 1)
    store.create(resource, record, ns)  # the 0.8 install's record, before the bootstrap ends
    _bootstrap_then_upgrade(store, rt, "agile-service", "agile-service=db-down", tmp, "0.9.1")
    wait_for(lambda: ready_pods(store, "agile-service", "0.9.1"), what="no new revision stored: healthy")
    proxy = rt.mysql_proxy
    time.sleep(0.3)
    assert proxy.calls == [], "neither the 0.8 record nor a Deployment change begins the upgrade"
    other = release_record(dialect, "config-server", 2)
    store.create(other[0], other[2], other[1])
    time.sleep(0.3)
    assert proxy.calls == [], "another release's revision leaves MySQL up"
    resource, ns, record = release_record(dialect, "agile-service", 2)
    store.create(resource, record, ns)
    wait_for(lambda: proxy.calls == [True], what="proxy refuses")
    pod = ready_pods(store, "agile-service")[0] if ready_pods(store, "agile-service") else pods_of(store, "agile-service")[0]
    status, body = health_of(pod, 8379)
    assert status == 503 and body["db"]["status"] == "DOWN"
    assert health_of(ready_pods(store, "config-server")[0], 8011)[0] == 200, "other releases unaffected"
    faults.clear_fault(tmp, "agile-service")
    wait_for(lambda: proxy.calls == [True, False], what="proxy accepts again")
    wait_for(lambda: ready_pods(store, "agile-service", "0.9.1"))


def test_jobs_complete(world):
    store, rt, _ = world
    objs = charts.render("iam-service", "iam-service", "0.8.0", {}, NS, 8031, 8030, hooks=["init-db"])
    job = next(o for o in objs if o["kind"] == "Job")
    store.create("jobs.batch", job, NS)
    done = wait_for(lambda: (j := store.get("jobs.batch", NS, "iam-service-init-db")).get("status", {}).get("succeeded") and j)
    assert done["status"]["conditions"][0]["type"] == "Complete"


# ------------------------------------------------------------------------------ gateway API

def test_gateway_platform_api_in_memory(world):
    store, rt, _ = world
    base(store)
    for r in ("api-gateway", "oauth-server", "iam-service", "wiki-service"):
        install(store, r)
    wait_for(lambda: all(ready_pods(store, r) for r in ("api-gateway", "oauth-server", "iam-service", "wiki-service")))
    gw = store.get("services", NS, "api-gateway")["spec"]["clusterIP"]
    base_url = f"http://{gw}:8080"
    form = (f"grant_type=password&username=admin&password={ADMIN_PASSWORD}"
            f"&client_id=client&client_secret={CLIENT_SECRET}").encode()
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    bad = form.replace(ADMIN_PASSWORD.encode(), b"wrong")
    status, _, body = http("POST", f"{base_url}/oauth/oauth/token", bad, hdr)
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    status, _, body = http("POST", f"{base_url}/oauth/oauth/token", form, hdr)
    assert status == 200
    token = json.loads(body)
    assert token["token_type"] == "bearer" and token["expires_in"] > 0
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert http("GET", f"{base_url}/devops/v1/upgrade?version=0.9")[0] == 401
    # devops not at 0.9.3 -> business error with HTTP 200
    status, body = get_json(f"{base_url}/devops/v1/upgrade?version=0.9", auth)
    assert status == 200 and body["failed"] is True and body["code"] == "error.service.unavailable"
    assert http("POST", f"{base_url}/wiki/v1/wiki/page", b"", auth)[:3:2] == (201, b"")
    q = f"{base_url}/iam/v1/organizations/1/clients/query_by_name?client_name=choerodon"
    assert http("GET", q, headers=auth)[::2] == (200, b"")
    client = {"name": "choerodon", "organizationId": 1, "secret": "s3cret",
              "authorizedGrantTypes": "implicit,client_credentials,authorization_code,refresh_token",
              "webServerRedirectUri": "http://front", "accessTokenValidity": 3600,
              "refreshTokenValidity": 3600, "scope": "default", "autoApprove": "default"}
    jh = dict(auth, **{"Content-Type": "application/json"})
    bad_client = dict(client, name="x" * 33)
    status, _, body = http("POST", f"{base_url}/iam/v1/organizations/1/clients", json.dumps(bad_client).encode(), jh)
    assert status == 200 and json.loads(body)["failed"] is True
    status, _, body = http("POST", f"{base_url}/iam/v1/organizations/1/clients", json.dumps(client).encode(), jh)
    assert status == 200 and json.loads(body)["name"] == "choerodon"
    status, _, body = http("POST", f"{base_url}/iam/v1/organizations/1/clients", json.dumps(client).encode(), jh)
    assert json.loads(body)["code"] == "error.client.exist"
    status, found = get_json(q, auth)
    assert found["name"] == "choerodon" and found["authorizedGrantTypes"].startswith("implicit")
    # oauth-server gone: token requests fail
    store.delete("deployments.apps", NS, "oauth-server")
    wait_for(lambda: not pods_of(store, "oauth-server"))
    assert http("POST", f"{base_url}/oauth/oauth/token", form, hdr)[0] == 500


def test_pod_log_and_stop_leaves_nothing_listening(tmp_path):
    store = Store()
    rt = Runtime(store, tmp_path, PLAN, NS, start_delay=(0.05, 0.1), readiness_interval=0.05)
    rt.start()
    try:
        install(store, "register-server")
        pod = wait_for(lambda: ready_pods(store, "register-server"))[0]
        text = rt.pod_log(NS, pod["metadata"]["name"])
        assert "Started" in text and "Ready" in text
        assert rt.pod_log(NS, pod["metadata"]["name"], tail=1).count("\n") == 1
        assert rt.pod_log(NS, "nope") is None
        svc = store.get("services", NS, "register-server")["spec"]["clusterIP"]
    finally:
        rt.stop()
    assert refused(pod["status"]["podIP"], 8000)
    assert refused(svc, 8000)


def test_xwiki_operator_runs_once_steps_1_to_10_are_at_target(tmp_path):
    store = Store()
    calls = []
    rt = Runtime(store, tmp_path, PLAN, NS, start_delay=(0.02, 0.05), readiness_interval=0.05,
                 xwiki_operator=lambda: calls.append(time.monotonic()), oauth_client_secret="x")
    rt.start()
    try:
        framework = [s for s in PLAN.steps if s.number <= 10]
        for step in framework:
            if step.from_version:
                install(store, step.release)
        wait_for(lambda: all(ready_pods(store, s.release) for s in framework if s.from_version), timeout=15)
        time.sleep(1.2)
        assert calls == [], "not before the framework is at 0.9"
        for step in framework[:-1]:  # notify/asgard are new installs (DOWN here: no database)
            install(store, step.release, step.version)
        time.sleep(1.5)
        assert calls == [], "not before step 10 is done"
        install(store, framework[-1].release, framework[-1].version)
        wait_for(lambda: calls, timeout=10, what="the operator's XWiki steps")
        time.sleep(1.2)
        assert len(calls) == 1
    finally:
        rt.stop()
