"""Pre-flight's rights check against the REAL API server's RBAC (issue 16, point 7): deploy/rbac as
applied to the control plane, and copies of upgrade.yaml missing exactly one verb, each bound to a
ServiceAccount of its own whose token comes from the TokenRequest API. The library's check
(`rights.prove`) and the suite's own refusal before its first test (exit 4) both name what is missing."""
from __future__ import annotations

import copy
import os
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as kube_config

from c7n_upgrade.kube import KubeClient, KubeForbidden, rights
from c7n_upgrade.kube.rights import MissingRights, Need
from c7n_sandbox.controlplane import NAMESPACE
from tests.e2e.harness import run_suite

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
UPGRADE_YAML = ROOT / "deploy" / "rbac" / "upgrade.yaml"
UPGRADE = rights.needs(upgrade=True, helm_dialect=3, proxy=True)
READ_ONLY = rights.needs(upgrade=False, helm_dialect=3, proxy=True)


def without_verb(verb: str, group: str, resource: str, account: str) -> list[dict]:
    """upgrade.yaml for ServiceAccount `account` (every name made its own), `verb` taken from `resource`
    of `group` alone: a rule naming other resources too keeps them as they were."""
    out, removed = [], 0
    for doc in yaml.safe_load_all(UPGRADE_YAML.read_text(encoding="utf-8")):
        doc = copy.deepcopy(doc)
        doc["metadata"]["name"] = doc["metadata"]["name"].replace("c7n-upgrade", account)
        if "roleRef" in doc:
            doc["roleRef"]["name"] = doc["roleRef"]["name"].replace("c7n-upgrade", account)
            doc["subjects"] = [{**s, "name": account} for s in doc["subjects"]]
        rules = []
        for rule in doc.get("rules", []):
            if group in rule.get("apiGroups", []) and resource in rule.get("resources", []) and verb in rule["verbs"]:
                rest = [r for r in rule["resources"] if r != resource]
                if rest:
                    rules.append({**rule, "resources": rest})
                rules.append({**rule, "resources": [resource], "verbs": [v for v in rule["verbs"] if v != verb]})
                removed += 1
            else:
                rules.append(rule)
        if "rules" in doc:
            doc["rules"] = rules
        out.append(doc)
    assert removed == 1, f"upgrade.yaml grants {verb} {group}/{resource} in {removed} rules"
    return out


def identity_context(control_plane, tmp_path: Path, account: str) -> Path:
    """A kubeconfig with a context `account` for that ServiceAccount, its token from the TokenRequest API."""
    admin = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig), context="sandbox")
    try:
        request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
        token = k8s.CoreV1Api(admin).create_namespaced_service_account_token(account, NAMESPACE, request).status.token
    finally:
        admin.close()
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["users"].append({"name": account, "user": {"token": token}})
    config["contexts"].append({"name": account, "context": {"cluster": "sandbox", "user": account,
                                                            "namespace": NAMESPACE}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    os.chmod(path, 0o600)
    return path


def refused(kube: KubeClient, wanted: list[Need]) -> list[Need]:
    """The needs the API server refuses the KubeClient's identity ([] when it proves all)."""
    try:
        rights.prove(kube, wanted, namespace=NAMESPACE)
    except MissingRights as exc:
        return exc.denied
    return []


def settled(kube: KubeClient, wanted: list[Need], expect: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(verb, resource) refused, asked again while it differs from `expect` for up to 30 s (RBAC's caches
    catch up with new bindings within moments); the last answer."""
    deadline = time.monotonic() + 30
    while True:
        got = [(n.verb, n.resource) for n in refused(kube, wanted)]
        if got == expect or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


@pytest.fixture
def kube_as(control_plane):
    made = []

    def make(context: str, kubeconfig=None) -> KubeClient:
        made.append(KubeClient(kubeconfig=str(kubeconfig or control_plane.kubeconfig), context=context,
                               namespace=NAMESPACE))
        return made[-1]
    yield make
    for kube in made:
        kube.close()


@pytest.mark.parametrize("verb,group,resource", [
    ("patch", "apps", "deployments"),
    ("delete", "batch", "jobs"),
    ("create", "", "configmaps"),
    ("get", "", "pods/log"),
    ("list", "", "secrets"),
    ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
], ids=lambda v: v or "core")
def test_a_role_missing_one_verb_is_refused_naming_that_verb_and_resource(control_plane, kube_as, tmp_path,
                                                                           verb, group, resource):
    account = f"c7n-upgrade-no-{verb}-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(yaml.safe_dump_all(without_verb(verb, group, resource, account)))
    applied = control_plane.kubectl("apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    try:
        kube = kube_as(account, identity_context(control_plane, tmp_path, account))
        spelled = f"{resource}.{group}" if group else resource
        assert settled(kube, UPGRADE, [(verb, spelled)]) == [(verb, spelled)]
        with pytest.raises(MissingRights) as err:
            rights.prove(kube, UPGRADE, namespace=NAMESPACE)
        where = "(cluster scope)" if resource == "customresourcedefinitions" else f"in {NAMESPACE}"
        assert str(err.value).startswith(f"the kube identity (context {account}) may not {verb} {spelled} {where}, "
                                         "which this run needs: "), str(err.value)
        assert "more refused" not in str(err.value)
    finally:
        control_plane.kubectl("delete", "-f", str(manifest), "--wait=false")


def test_the_unmodified_upgrade_identity_has_every_need(kube_as):
    for dialect in (3, None):
        for proxy in (True, False):
            assert refused(kube_as("c7n-upgrade"), rights.needs(upgrade=True, helm_dialect=dialect, proxy=proxy)) == []


def test_with_helm_2_both_identities_need_helm2_tiller_yaml_and_have_all_with_it(control_plane, kube_as):
    upgrade, check = kube_as("c7n-upgrade"), kube_as("c7n-upgrade-check")
    helm2 = [(n.verb, n.resource) for n in rights.HELM2_CLIENT]
    assert settled(upgrade, rights.needs(upgrade=True, helm_dialect=2, proxy=True), helm2) == helm2
    tiller_yaml = str(ROOT / "deploy" / "rbac" / "helm2-tiller.yaml")
    applied = control_plane.kubectl("apply", "-f", tiller_yaml)
    assert applied.returncode == 0, applied.stderr
    try:
        assert settled(upgrade, rights.needs(upgrade=True, helm_dialect=2, proxy=True), []) == []
        assert settled(check, rights.needs(upgrade=False, helm_dialect=2, proxy=True), []) == []
    finally:
        control_plane.kubectl("delete", "-f", tiller_yaml, "--wait=false")


def test_the_check_identity_passes_the_read_only_proof_and_is_refused_every_write(kube_as):
    check = kube_as("c7n-upgrade-check")
    assert refused(check, READ_ONLY) == []
    writes = [n for n in UPGRADE if n.verb not in rights.READ]
    assert writes and refused(check, UPGRADE) == writes  # the upgrade's reads it has; each write it lacks
    with pytest.raises(KubeForbidden) as err:  # and the API server refuses the write itself: 403
        check.acquire_lock(owner="check-may-not-write")
    assert err.value.status == 403 and err.value.verb == "create" and err.value.resource == "configmaps"
    assert check.get_lock() is None  # nothing was written


# ---- the suite itself: refused before its first test, with one message --------------------------
SECRETS = {f"C7N_{name}": "not-used-before-the-first-test" for name in (
    "MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "ADMIN_PASSWORD", "OAUTH_CLIENT_SECRET", "FRONT_CLIENT_SECRET")}


def suite_env(tmp_path: Path, kubeconfig: Path, context: str) -> Path:
    """envs/prod.yaml pointed at the control plane as `context` (helm 3 stated: helm is not asked)."""
    data = yaml.safe_load((ROOT / "envs" / "prod.yaml").read_text(encoding="utf-8"))
    data.update(name="rbac-preflight", kube={"kubeconfig": str(kubeconfig), "context": context})
    data["helm"]["dialect"] = 3
    path = tmp_path / f"{context}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def errors(run) -> list[str]:
    return [line for line in run.output.splitlines() if line.startswith("ERROR:")]


def test_the_suite_stops_before_its_first_test_naming_the_missing_verb(control_plane, tmp_path):
    account = f"c7n-upgrade-no-patch-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(yaml.safe_dump_all(without_verb("patch", "apps", "deployments", account)))
    assert control_plane.kubectl("apply", "-f", str(manifest)).returncode == 0
    try:
        kubeconfig = identity_context(control_plane, tmp_path, account)
        with KubeClient(kubeconfig=str(kubeconfig), context=account, namespace=NAMESPACE) as kube:
            assert settled(kube, UPGRADE, [("patch", "deployments.apps")]) == [("patch", "deployments.apps")]
        run = run_suite(tmp_path, "suites/", "--env", str(suite_env(tmp_path, kubeconfig, account)),
                        env_extra=SECRETS, timeout=120)
    finally:
        control_plane.kubectl("delete", "-f", str(manifest), "--wait=false")
    assert run.exit_code == 4, run.output[-3000:]
    assert errors(run) == [f"ERROR: the kube identity (context {account}) may not patch deployments.apps in "
                           f"{NAMESPACE}, which this run needs: helm 3 applies the charts' objects"], run.output
    assert "Next: grant that identity what deploy/rbac/ grants" in run.output
    assert run.outcome()["outcome"] == "stopped"
    assert "collected" not in run.output  # no test was collected, so none ran


def test_the_check_identity_may_run_the_read_only_proof_but_not_the_upgrade(control_plane, tmp_path):
    env = suite_env(tmp_path, control_plane.kubeconfig, "c7n-upgrade-check")
    proof = run_suite(tmp_path, "suites/post_upgrade", "--env", str(env), "--collect-only", env_extra=SECRETS,
                      timeout=120)
    assert proof.exit_code == 0 and errors(proof) == [], proof.output[-3000:]
    upgrade = run_suite(tmp_path, "suites/", "--env", str(env), "--collect-only", env_extra=SECRETS, timeout=120)
    assert upgrade.exit_code == 4, upgrade.output[-3000:]
    assert errors(upgrade)[0].startswith(f"ERROR: the kube identity (context c7n-upgrade-check) may not create "
                                         f"configmaps in {NAMESPACE}, which this run needs: the upgrade lock; "), \
        upgrade.output
