"""The suite on the real control plane with the real Helm 3 (`up --helm 3`, issue 16): the sandbox's Kubernetes is the
real API server, controller manager and scheduler, its pods run on the node, and its helm is the real
Helm 3 behind D/bin/helm. One sandbox, in file order: a dry run and the CI guard change nothing, the whole
upgrade passes, a re-run changes nothing. The fault chains (never-up and resume among them) run on the
real control plane too: test_faults_and_resume.py, test_terminal_states.py, test_safety_hostile.py."""
from __future__ import annotations

import json
import subprocess

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import assert_upgraded, module_sandbox, released, run_suite

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    with module_sandbox(tmp_path_factory, "real", "--helm", "3") as (sb, base):
        print(f"real-cluster sandbox ready in {sb.ready_s:.1f} s")
        api = kube_config.new_client_from_config(config_file=str(sb.dir / "kubeconfig"), context="sandbox")
        yield sb, base, api
        api.close()


def _versions(api) -> dict[str, str]:
    deployments = k8s.AppsV1Api(api).list_namespaced_deployment(NS).items
    return {d.metadata.name: d.spec.template.metadata.labels["choerodon.io/version"] for d in deployments}


def _missing(read) -> bool:
    try:
        read()
    except ApiException as exc:
        return exc.status == 404
    return False


def test_the_sandbox_runs_on_the_real_api_server_with_the_real_helm_3(real):
    sb, _, api = real
    version = subprocess.run(["kubectl", "--kubeconfig", str(sb.dir / "kubeconfig"), "version", "-o", "json"],
                             capture_output=True, text=True, timeout=30)
    assert json.loads(version.stdout)["serverVersion"]["gitVersion"] == "v1.34.4", version.stderr
    env = sb.env_data()
    assert env["helm"]["dialect"] == 3 and env["helm"]["binary"] == str(sb.dir / "bin" / "helm")
    assert env["access"] == "direct"
    # every 0.8 release is a real Helm 3 release, its pods Ready on the node with their 0.8 image
    listed = subprocess.run([env["helm"]["binary"], "list", "-n", NS, "-o", "json", "--kubeconfig",
                             str(sb.dir / "kubeconfig")], capture_output=True, text=True, timeout=60)
    releases = {r["name"]: (r["chart"], r["status"]) for r in json.loads(listed.stdout)}
    steps = [s for s in PLAN.steps if s.from_version]
    assert releases == {s.release: (f"{s.chart}-{s.from_version}", "deployed") for s in steps}
    pods = k8s.CoreV1Api(api).list_namespaced_pod(NS).items
    assert {p.spec.node_name for p in pods} == {"sandbox-node"}
    assert all(any(c.type == "Ready" and c.status == "True" for c in p.status.conditions) for p in pods)
    assert sb.helm_calls()[-1]["argv"][:1] == ["list"]  # D/bin/helm logs the calls made through it


def test_dry_run_changes_nothing(real):
    sb, base, api = real
    before = _versions(api)
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--dry-run", "--allow-upgrade-in-ci")
    assert run.exit_code == 0, run.output[-3000:]
    assert sb.writes() == []
    assert _versions(api) == before
    assert "notify_service" not in sb.databases()
    assert _missing(lambda: k8s.ApiextensionsV1Api(api).read_custom_resource_definition(
        "c7nhelmreleases.choerodon.io")), "a dry run created the CRD"
    assert _missing(lambda: k8s.CoreV1Api(api).read_namespaced_config_map("c7n-upgrade-lock", NS))
    text = run.all_text()
    assert "upgrade devops-service c7n/devops-service --version 0.9.3" in text
    assert "install notify-service c7n/notify-service -n choerodon-devops-prod --version 0.9.0" in text


def test_ci_guard_skips_the_upgrade_phase(real):
    sb, base, _ = real
    run = run_suite(base, "suites/pre_upgrade", "suites/upgrade", "--env", str(sb.env_file), ci=True)
    assert run.exit_code == 0, run.output[-3000:]
    upgrade = {k: v for k, v in run.outcomes().items() if "suites/upgrade" in k}
    assert upgrade and all("CI=true" in v and "--allow-upgrade-in-ci" in v for v in upgrade.values())
    assert sb.writes() == []


def test_the_whole_upgrade_passes(real):
    sb, base, api = real
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    assert_upgraded(run, len(PLAN.steps))
    assert [released(argv) for argv in sb.writes()] == [s.release for s in PLAN.steps]
    assert _versions(api) == {s.release: s.version for s in PLAN.steps}
    services = k8s.CoreV1Api(api).list_namespaced_pod(NS, label_selector="choerodon.io/release").items
    images = {c.image for p in services for c in p.status.container_statuses}
    assert images == {f"registry.cn-hangzhou.aliyuncs.com/choerodon/{s.chart}:{s.version}" for s in PLAN.steps}
    # every write was the real Helm 3's: its release Secrets, and the marks only it puts on what it applies
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    for step in PLAN.steps:
        secrets = core.list_namespaced_secret(NS, label_selector=f"owner=helm,name={step.release}").items
        revisions = sorted(int(s.metadata.labels["version"]) for s in secrets)
        assert revisions == ([1] if step.action == "install" else [1, 2]), step.release
        deployment = apps.read_namespaced_deployment(step.release, NS)
        assert deployment.metadata.labels["app.kubernetes.io/managed-by"] == "Helm", step.release
        assert deployment.metadata.annotations["meta.helm.sh/release-name"] == step.release


def test_a_rerun_changes_nothing(real):
    sb, base, _ = real
    before = len(sb.writes())
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    assert run.exit_code == 0, run.output[-3000:]
    assert len(sb.writes()) == before
    assert "already at 0.9.0" in run.all_text()
