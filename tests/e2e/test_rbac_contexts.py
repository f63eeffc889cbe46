"""RBAC proven end to end (issue 16, point 7) on the real control plane: the whole upgrade passes with
the env's kube context `c7n-upgrade` (deploy/rbac/upgrade.yaml's ServiceAccount), the post-upgrade
proof passes with `c7n-upgrade-check` (readonly.yaml's), and that identity's writes get the API
server's 403. Who wrote is read from the cluster itself: the API server's audit log
(D/controlplane/logs/audit.log, one JSON line per write, the authenticated user in each), where
the `sandbox` admin context would show as `c7n-sandbox-admin`. Helm 3, then Helm 2 (Tiller writes
the releases as its own ServiceAccount; the sandbox's helm 2 client reaches it by HELM_HOST).
tests/sandbox/test_rbac_preflight.py has the pre-flight refusals (a role missing one verb)."""
from __future__ import annotations

import json
import subprocess

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import assert_upgraded, audit_events, module_sandbox, run_suite

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace
UPGRADER = f"system:serviceaccount:{NS}:c7n-upgrade"
CHECKER = f"system:serviceaccount:{NS}:c7n-upgrade-check"
TILLER = "system:serviceaccount:kube-system:tiller"
ADMIN = "c7n-sandbox-admin"  # the `sandbox` context (controlplane/cluster.py)
#: what the upgrade writes (helm or the suite); the node (as the admin) writes pods, nodes, services' ports
UPGRADE_WRITES = {"deployments", "secrets", "configmaps", "jobs", "customresourcedefinitions"}
PARAMS = {"real": ("--helm", "3"), "real-helm2": ("--helm", "2")}


@pytest.fixture(scope="module", params=list(PARAMS))
def rbac(request, tmp_path_factory):
    with module_sandbox(tmp_path_factory, f"rbac-{request.param}", *PARAMS[request.param]) as (sb, base):
        yield sb, base, sb.env_data()["helm"]["dialect"]


def audit(sb) -> list[dict]:
    return audit_events(sb.dir)


def by(events: list[dict], user: str) -> list[tuple[str, str, str]]:
    """(verb, resource[/subresource], name) of the events made as `user`, in order."""
    out = []
    for e in events:
        if e["user"]["username"] == user:
            ref = e.get("objectRef", {})
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            out.append((e["verb"], resource, ref.get("name", "")))
    return out


def contexts(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--kube-context"]


def as_context(sb, context: str):
    return sb.env_with(f"as-{context}", kube={"kubeconfig": str(sb.dir / "kubeconfig"), "context": context})


def test_the_whole_upgrade_passes_as_c7n_upgrade_and_its_writes_are_that_identity(rbac):
    sb, base, dialect = rbac
    before, calls = len(audit(sb)), len(sb.helm_calls())
    run = run_suite(base, "suites/", "--env", str(as_context(sb, "c7n-upgrade")), "--allow-upgrade-in-ci")
    assert_upgraded(run, len(PLAN.steps))
    events = audit(sb)[before:]
    mine = by(events, UPGRADER)
    # the suite's own writes: the lock, taken and given back, and the devops CRD
    assert ("create", "configmaps", "c7n-upgrade-lock") in mine and ("delete", "configmaps", "c7n-upgrade-lock") in mine
    assert ("create", "customresourcedefinitions", "c7nhelmreleases.choerodon.io") in mine
    # helm's: each release's Deployment and its new revision, by the upgrade's identity (3) or Tiller (2)
    writer = UPGRADER if dialect == 3 else TILLER
    theirs = by(events, writer)
    for step in PLAN.steps:
        verb = "create" if step.action == "install" else "patch"
        assert (verb, "deployments", step.release) in theirs, (step.release, theirs)
        revision = 1 if step.action == "install" else 2
        storage = ("secrets", f"sh.helm.release.v1.{step.release}.v{revision}") if dialect == 3 else \
            ("configmaps", f"{step.release}.v{revision}")
        assert ("create", *storage) in theirs, (step.release, theirs)
    if dialect == 2:  # the client reaches the sandbox's Tiller by HELM_HOST: c7n-upgrade wrote only the suite's
        assert {(v, r) for v, r, _ in mine} <= {(v, "configmaps") for v in ("create", "update", "delete")} | {
            ("create", "customresourcedefinitions"), ("delete", "jobs")}, mine
    # and the admin context wrote none of it
    assert [w for w in by(events, ADMIN) if w[1] in UPGRADE_WRITES] == []
    refused = [e for e in events if e["user"]["username"] == UPGRADER and e["responseStatus"]["code"] == 403]
    assert refused == [], refused  # nothing it asked was Forbidden
    # and the client side agrees: every helm write named that context
    writes = [c["argv"] for c in sb.helm_calls()[calls:] if c["argv"][0] in ("upgrade", "install")]
    assert len(writes) == len(PLAN.steps) and all(contexts(a) == ["c7n-upgrade"] for a in writes), writes


def test_the_post_upgrade_proof_passes_as_c7n_upgrade_check_and_writes_nothing(rbac):
    sb, base, _ = rbac
    before, helm_calls = len(audit(sb)), len(sb.helm_calls())
    run = run_suite(base, "suites/post_upgrade", "--env", str(as_context(sb, "c7n-upgrade-check")))
    assert run.exit_code == 0, run.output[-3000:]
    outcomes = run.outcomes()
    assert outcomes and set(outcomes.values()) == {"passed"}, outcomes
    asked = [contexts(c["argv"]) for c in sb.helm_calls()[helm_calls:]]
    assert ["c7n-upgrade-check"] in asked and all(c in ([], ["c7n-upgrade-check"]) for c in asked), asked
    assert by(audit(sb)[before:], CHECKER) == []  # not one write, not even a refused one


def test_the_check_identity_gets_403_for_the_upgrades_writes(rbac):
    sb, _, dialect = rbac
    kubeconfig = str(sb.dir / "kubeconfig")
    release = next(s.release for s in PLAN.steps if s.action == "upgrade")
    before = len(audit(sb))
    patch = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--context", "c7n-upgrade-check", "-n", NS,
                            "patch", "deployment", release, "-p", '{"metadata":{"labels":{"rbac-e2e":"x"}}}'],
                           capture_output=True, text=True, timeout=30)
    assert patch.returncode == 1
    assert (f'deployments.apps "{release}" is forbidden: User "{CHECKER}" cannot patch resource "deployments" '
            f'in API group "apps" in the namespace "{NS}"') in patch.stderr, patch.stderr
    api = kube_config.new_client_from_config(config_file=kubeconfig, context="c7n-upgrade-check")
    try:
        lock = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c7n-upgrade-lock"), data={"owner": "check"})
        with pytest.raises(ApiException) as err:
            k8s.CoreV1Api(api).create_namespaced_config_map(NS, lock)
        assert err.value.status == 403 and json.loads(err.value.body)["reason"] == "Forbidden"
    finally:
        api.close()
    refused = [(e["verb"], e["objectRef"]["resource"], e["responseStatus"]["code"])
               for e in audit(sb)[before:] if e["user"]["username"] == CHECKER]
    assert refused == [("patch", "deployments", 403), ("create", "configmaps", 403)]
    if dialect == 3:  # the upgrade's own tool: a helm upgrade as the check identity changes nothing either
        current = helm_list(sb)
        row = next(r for r in current if r["name"] == release)
        helm = subprocess.run([str(sb.dir / "bin" / "helm"), "upgrade", release, f"c7n/{row['chart'].rsplit('-', 1)[0]}",
                               "--version", row["chart"].rsplit("-", 1)[1], "--reuse-values", "-n", NS,
                               "--kube-context", "c7n-upgrade-check"], capture_output=True, text=True, timeout=120)
        assert helm.returncode == 1
        assert f'User "{CHECKER}" cannot create resource "secrets"' in helm.stderr, helm.stderr
        assert helm_list(sb) == current


def helm_list(sb) -> list[dict]:
    return json.loads(subprocess.run([str(sb.dir / "bin" / "helm"), "list", "-o", "json", "-n", NS],
                                     capture_output=True, text=True, timeout=60, check=True).stdout)
