"""The whole upgrade with the real Helm 2 on the real control plane (`up --cluster real --helm 2`, issue 16
point 5): the helm 2 client (built from k8s.io/helm v2.17.0) behind D/bin/helm talks to a Tiller on
loopback running as the ServiceAccount kube-system/tiller with deploy/rbac/helm2-tiller.yaml's rights,
which stores the releases as ConfigMaps in kube-system. One sandbox, in file order."""
from __future__ import annotations

import base64
import gzip
import json
import subprocess

import pytest
import yaml

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import assert_upgraded, module_sandbox, released, run_suite

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace


@pytest.fixture(scope="module")
def helm2(tmp_path_factory):
    with module_sandbox(tmp_path_factory, "real-helm2", "--helm", "2") as (sb, base):
        print(f"real-cluster Helm 2 sandbox ready in {sb.ready_s:.1f} s")
        yield sb, base


def _helm(sb, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(sb.dir / "bin" / "helm"), *args], capture_output=True, text=True, timeout=60)


def _tiller_records(sb) -> dict[str, list[tuple[int, str]]]:
    """Tiller's release ConfigMaps in kube-system: release -> [(revision, STATUS)], by revision."""
    _, found = sb.api("/api/v1/namespaces/kube-system/configmaps?labelSelector=OWNER%3DTILLER")
    records: dict[str, list[tuple[int, str]]] = {}
    for item in found["items"]:
        labels = item["metadata"]["labels"]
        records.setdefault(labels["NAME"], []).append((int(labels["VERSION"]), labels["STATUS"]))
    return {name: sorted(revisions) for name, revisions in records.items()}


def test_the_sandbox_runs_the_real_helm_2_and_its_tiller_as_the_tiller_service_account(helm2):
    sb, _ = helm2
    env = sb.env_data()
    assert env["helm"]["dialect"] == 2 and env["helm"]["binary"] == str(sb.dir / "bin" / "helm")
    version = _helm(sb, "version", "--short")
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["Client:", "v2.17.0+ga690bad", "Server:", "v2.17.0+ga690bad"]
    host = json.loads((sb.dir / "sandbox.json").read_text())["tiller_host"]
    assert host.startswith("127.0.0.1:")
    tiller_config = yaml.safe_load((sb.dir / "tiller" / "kubeconfig").read_text())
    assert tiller_config["current-context"] == "tiller"
    # Tiller's kubeconfig holds its own token, none of the sandbox's other identities (cluster-admin)
    for config in (tiller_config, yaml.safe_load((sb.dir / "tiller" / "source.kubeconfig").read_text())):
        assert [u["name"] for u in config["users"]] == ["tiller"]
    # every 0.8 release is a Helm 2 release Tiller stored: revision 1, DEPLOYED, its 0.8 chart
    steps = [s for s in PLAN.steps if s.from_version]
    assert _tiller_records(sb) == {s.release: [(1, "DEPLOYED")] for s in steps}
    listed = json.loads(_helm(sb, "list", "--output", "json").stdout)["Releases"]
    assert {r["Name"]: (r["Chart"], r["Namespace"]) for r in listed} == {
        s.release: (f"{s.chart}-{s.from_version}", NS) for s in steps}


def test_tillers_identity_is_refused_outside_its_rbac_file(helm2):
    """Tiller acts with the ServiceAccount's token: what helm2-tiller.yaml does not grant is refused."""
    sb, _ = helm2
    for verb, resource, namespace, allowed in (("create", "deployments.apps", NS, "yes"),
                                               ("create", "configmaps", "kube-system", "yes"),
                                               ("create", "deployments.apps", "default", "no"),
                                               ("list", "secrets", "kube-system", "no")):
        can = subprocess.run(["kubectl", "--kubeconfig", str(sb.dir / "tiller" / "kubeconfig"), "auth", "can-i",
                              verb, resource, "-n", namespace], capture_output=True, text=True, timeout=30)
        assert can.stdout.strip() == allowed, (verb, resource, namespace, can.stdout, can.stderr)


def test_the_whole_upgrade_passes_with_helm_2s_forms(helm2):
    sb, base = helm2
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    assert_upgraded(run, len(PLAN.steps))
    writes = sb.writes()
    assert [released(argv) for argv in writes] == [s.release for s in PLAN.steps]
    # Helm 2's install form, its Tiller namespace flag, no Helm 3 namespace flag on an upgrade
    installs = [argv for argv in writes if argv[0] == "install"]
    assert installs and all("--name" in argv and "--tiller-namespace" in argv for argv in installs)
    assert all("-n" not in argv for argv in writes)
    # Tiller's record: each release's last revision DEPLOYED, the ones before SUPERSEDED
    records = _tiller_records(sb)
    for step in PLAN.steps:
        statuses = [status for _, status in records[step.release]]
        assert statuses[-1] == "DEPLOYED" and set(statuses[:-1]) <= {"SUPERSEDED"}, (step.release, statuses)
    listed = json.loads(_helm(sb, "list", "--output", "json").stdout)["Releases"]
    assert {r["Name"]: r["Chart"] for r in listed} == {s.release: f"{s.chart}-{s.version}" for s in PLAN.steps}


def test_a_release_as_tiller_stored_it_names_the_target_chart(helm2):
    """The stored Release (base64 of gzip of its protobuf) holds the chart's name and version."""
    sb, _ = helm2
    step = PLAN.steps[1]
    revision = max(v for v, _ in _tiller_records(sb)[step.release])
    _, item = sb.api(f"/api/v1/namespaces/kube-system/configmaps/{step.release}.v{revision}")
    payload = gzip.decompress(base64.b64decode(item["data"]["release"]))
    assert step.chart.encode() in payload and step.version.encode() in payload


def test_a_rerun_changes_nothing(helm2):
    sb, base = helm2
    before = len(sb.writes())
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    assert run.exit_code == 0, run.output[-3000:]
    assert len(sb.writes()) == before
    assert "already at 0.9.0" in run.all_text()
