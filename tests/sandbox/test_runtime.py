"""The sandbox runtime's pods, Services and register-server, in-process (runtime_world.py): pods on
their own loopback addresses, rollouts, readiness, Services forwarding, Eureka's listing; Jobs; a
pod's log and a clean stop."""
from __future__ import annotations

import json
import time

import pytest

from c7n_upgrade.sandbox import behaviours, charts, faults
from c7n_upgrade.sandbox.apiserver import Store
from c7n_upgrade.sandbox.runtime import Runtime
from tests.sandbox.kubectl_output import wait_for
from tests.sandbox.runtime_world import (NS, PLAN, _try, base, get_json, health_of, http, install, is_ready,  # noqa: F401
                                         pods_of, ready_pods, refused, running_pod, world)

pytestmark = pytest.mark.sandbox


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
    pod = running_pod(store, "config-server")
    status, body = wait_for(lambda: (r := health_of(pod, 8011)) and r, what="config health")
    assert status == 503 and body["status"] == "DOWN" and body["discoveryComposite"]["status"] == "DOWN"
    iam = running_pod(store, "iam-service")
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
    new = running_pod(store, "devops-service", "0.9.3")
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
    pod = running_pod(store, "notify-service")
    status, body = health_of(pod, 18086)
    assert status == 503 and body["db"]["status"] == "DOWN"
    time.sleep(0.2)
    assert not ready_pods(store, "notify-service")


def test_jobs_complete(world):
    store, rt, _ = world
    objs = charts.render("iam-service", "iam-service", "0.8.0", {}, NS, 8031, 8030, hooks=["init-db"])
    job = next(o for o in objs if o["kind"] == "Job")
    store.create("jobs.batch", job, NS)
    done = wait_for(lambda: (j := store.get("jobs.batch", NS, "iam-service-init-db")).get("status", {}).get("succeeded") and j)
    assert done["status"]["conditions"][0]["type"] == "Complete"


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
