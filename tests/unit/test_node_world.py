"""The node's `world` for the Choerodon behaviours (sandbox/node/world.py), without an API server:
its pod cache, the helm release records that say an upgrade began, and when a fault acts."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from c7n_sandbox import faults
from c7n_sandbox.behaviours.register import eureka_apps
from c7n_sandbox.node.world import ChoerodonConfig, NodeWorld, PodView

NS = "choerodon-devops-prod"
REGISTRY = "registry.cn-hangzhou.aliyuncs.com/choerodon"


def _pod(name, chart, version="0.9.0", ready=True, ns=NS, uid=None, image_tag=None, owner="ReplicaSet"):
    labels = {"choerodon.io/release": name, "choerodon.io/service": chart, "choerodon.io/version": version,
              "choerodon.io/metrics-port": "8011"}
    return {"metadata": {"name": f"{name}-abc", "namespace": ns, "uid": uid or f"uid-{name}-{ns}", "labels": labels,
                         "ownerReferences": [{"kind": owner, "name": f"{name}-rs"}]},
            "spec": {"containers": [{"name": name, "image": f"{REGISTRY}/{chart}:{image_tag or version}",
                                     "ports": [{"containerPort": 8010}, {"containerPort": 8011}]}]},
            "status": {"podIP": "127.77.3.4", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"ready": ready, "state": {"running": {}} if ready else {"waiting": {}}}]}}


@pytest.fixture
def world(tmp_path):
    node = SimpleNamespace(_stop=threading.Event(), log=lambda line: None)
    return NodeWorld(node, ChoerodonConfig.of({"sandbox_dir": tmp_path, "privileged_ports": False}))


def _worker(pod, seen=None):
    return SimpleNamespace(pod=pod, namespace=pod["metadata"]["namespace"], name=pod["metadata"]["name"],
                           seen=time.monotonic() if seen is None else seen, job_labels=None)


def test_a_pod_view_reads_what_the_behaviours_use():
    view = PodView(lambda: _pod("config-server", "config-server", version="0.9.0", image_tag="0.8.0"))
    assert (view.service, view.release, view.metrics_port, view.ports) == \
        ("config-server", "config-server", 8011, [8010, 8011])
    assert view.version == "0.8.0"     # the image's tag is what runs, whatever the label says
    assert view.ready and view.ip == "127.77.3.4"


def test_ready_pods_and_the_registry_come_from_the_pod_cache(world):
    world.pods_listed([_pod("config-server", "config-server"), _pod("iam-service", "iam-service", ready=False),
                       _pod("config-server", "config-server", ns="other")])
    assert [p.service for p in world.ready_pods(None)] == ["config-server"]
    assert world.ready_pods("iam-service") == []
    world.pod_event("MODIFIED", _pod("iam-service", "iam-service"))
    assert sorted(p.service for p in world.ready_pods(None)) == ["config-server", "iam-service"]
    world.pod_event("DELETED", _pod("config-server", "config-server"))
    apps = eureka_apps(world.store, [NS])["applications"]["application"]
    assert [(a["name"], a["instance"][0]["metadata"]["VERSION"]) for a in apps] == [("iam-service", "0.9.0")]


def test_a_newer_release_revision_than_at_the_bootstrap_means_upgrading(world):
    secret = {"type": "helm.sh/release.v1", "metadata": {"labels": {"owner": "helm", "name": "iam-service",
                                                                    "version": "1"}}}
    world._records("secrets")([secret])
    world._records("configmaps")([{"metadata": {"labels": {"OWNER": "TILLER", "NAME": "config-server",
                                                           "VERSION": "3"}}}])
    pod = PodView(lambda: _pod("iam-service", "iam-service"))
    assert not world.upgrading(pod)            # not bootstrapped: nothing is an upgrade yet
    world.mark_bootstrapped()
    assert not world.upgrading(pod)
    world._record_event("secrets")("ADDED", {**secret, "metadata": {"labels": {**secret["metadata"]["labels"],
                                                                              "version": "2"}}})
    assert world.upgrading(pod)
    assert not world.upgrading(PodView(lambda: _pod("config-server", "config-server")))


def test_faults_act_on_pods_first_seen_after_the_bootstrap(world, tmp_path):
    faults.set_fault(tmp_path, "iam-service", "crash-loop")
    world.faults.reload(force=True)
    before = _worker(_pod("iam-service", "iam-service"))
    assert world.pod_start(before).failure is None
    world.mark_bootstrapped()
    assert world.pod_start(before).failure is None    # seen before the bootstrap: a 0.8 pod
    after = _worker(_pod("iam-service", "iam-service"))
    assert world.pod_start(after).failure.how == "crash"
    faults.clear_fault(tmp_path, "iam-service")
    world.faults.reload(force=True)
    assert world.pod_start(after).failure is None     # cleared: its next start runs


def test_hook_fail_acts_on_the_hook_jobs_pod_through_its_jobs_labels(world, tmp_path):
    faults.set_fault(tmp_path, "iam-service", "hook-fail")
    world.faults.reload(force=True)
    world.mark_bootstrapped()
    service = _worker(_pod("iam-service", "iam-service"))
    hook = _pod("iam-service", "dbtool", owner="Job")
    hook["metadata"]["labels"] = {"job-name": "iam-service-init-db"}
    job_pod = _worker(hook)
    job_pod.job_labels = {"choerodon.io/release": "iam-service", "choerodon.io/service": "iam-service"}
    assert world.pod_start(service).failure is None
    failure = world.pod_start(job_pod).failure
    assert failure.how == "crash" and failure.exit_code == 1 and "sandbox fault hook-fail" in failure.output[-1]


def test_a_fault_by_the_default_name_applies_to_the_renamed_release(tmp_path):
    node = SimpleNamespace(_stop=threading.Event(), log=lambda line: None)
    renamed = NodeWorld(node, ChoerodonConfig.of({"sandbox_dir": tmp_path, "privileged_ports": False,
                                                  "release_names": {"iam-service": "iam"}}))
    faults.set_fault(tmp_path, "iam-service", "never-up")
    renamed.faults.reload(force=True)
    pod = _pod("iam", "iam-service")
    assert renamed.fault_of(pod["metadata"]["labels"]).kind == "never-up"
    assert renamed.fault_of(_pod("config-server", "config-server")["metadata"]["labels"]) is None


def test_without_root_low_ports_are_served_8000_higher(world):
    assert (world.bind_port(80), world.bind_port(8080)) == (8080, 8080)
