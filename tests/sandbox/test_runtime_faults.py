"""The sandbox runtime's fault kinds, in-process (runtime_world.py): each injected after the bootstrap
through faults.json, seen on the upgraded release's pods and cleared again."""
from __future__ import annotations

import time

import pytest

from c7n_upgrade.sandbox import faults
from c7n_upgrade.sandbox.apiserver import Store
from c7n_upgrade.sandbox.runtime import Runtime
from tests.sandbox.kubectl_output import wait_for
from tests.sandbox.runtime_world import (NS, PLAN, base, health_of, install, is_ready, pods_of,  # noqa: F401
                                         ready_pods, running_pod, world)

pytestmark = pytest.mark.sandbox


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
    new = running_pod(store, "iam-service", "0.9.0")
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
        pod = running_pod(store, "iam")
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
    pod = running_pod(store, "file-service", "0.9.0")
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
