"""deploy/rbac/*.yaml grant the rights the run needs, and those needs (`c7n_upgrade.kube.rights`, the
one declared list pre-flight proves against the API server) are what the code and helm really use:
- helm's: where each dialect keeps releases (RELEASE_STORAGE: where real helm keeps them, as the node's
  release_of_record reads them), and the kinds helm applies from the sandbox charts' render() of every
  step of the plan; helm's verbs on them are `rights.APPLY` (helm's behaviour, stated there once).
(The proof that every public KubeClient method's calls equal the declared kube needs ran against the
deleted API emulator; it is to be moved onto the real control plane: docs/decisions.md.)
"""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from c7n_upgrade.kube import KubeClient, rights
from c7n_upgrade.kube.rights import Need
from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import charts

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "deploy" / "rbac"
NS = yaml.safe_load((ROOT / "envs" / "prod.yaml").read_text(encoding="utf-8"))["namespace"]
TILLER_NS = "kube-system"
READ = set(rights.READ)
NOT_API = {"close", "rbac_needs"}  # public KubeClient methods that make no API call
#: where real helm keeps a release: Helm 3 in Secrets of the release's namespace, Helm 2's Tiller in
#: ConfigMaps of its own namespace (node/world.py's release_of_record reads both)
RELEASE_STORAGE = {3: ("secrets", NS), 2: ("configmaps", TILLER_NS)}


# ---- the manifests ---------------------------------------------------------------------------
def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((RBAC / name).read_text(encoding="utf-8")) if d]


class Grants:
    """The rules of some Roles/ClusterRoles bound to one subject, as a predicate."""

    def __init__(self, docs: list[dict], subject: tuple[str, str]):
        roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
                 for d in docs if d["kind"] in ("Role", "ClusterRole")}
        self.rules: list[tuple[str | None, dict]] = []  # (namespace or None for cluster-wide, rule)
        for b in docs:
            if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            if not any((s.get("namespace"), s["name"]) == subject for s in b["subjects"]):
                continue
            ref = b["roleRef"]
            ns = b["metadata"].get("namespace")
            role = roles.get((ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"]))
            assert role is not None, f"{b['kind']} {b['metadata']['name']} refers to a missing {ref['kind']} {ref['name']}"
            for rule in role["rules"]:
                self.rules.append((ns if b["kind"] == "RoleBinding" else None, rule))

    def allows(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        for ns, rule in self.rules:
            if ns is not None and ns != namespace:
                continue
            if "nonResourceURLs" in rule:
                continue
            if (group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", [])) \
                    and (resource in rule.get("resources", []) or "*" in rule.get("resources", [])) \
                    and (verb in rule["verbs"] or "*" in rule["verbs"]):
                return True
        return False

    def allows_url(self, url: str) -> bool:
        for ns, rule in self.rules:
            for pattern in rule.get("nonResourceURLs", []):
                if ns is None and "get" in rule["verbs"] and (
                        pattern == url or (pattern.endswith("*") and url.startswith(pattern[:-1]))):
                    return True
        return False

    def verbs(self) -> set[str]:
        return {v for _ns, rule in self.rules for v in rule["verbs"]}


def _grants(*files: str, sa: str) -> Grants:
    docs = [d for f in files for d in _docs(f)]
    return Grants(docs, (NS, sa))


CLUSTER_SCOPED = {("", "namespaces"), ("apiextensions.k8s.io", "customresourcedefinitions")}


def _missing(grants: Grants, needs: list[Need]) -> list[str]:
    missing = []
    for need in needs:
        if need.url:
            if not grants.allows_url(need.url):
                missing.append(need.text(NS, TILLER_NS))
            continue
        group, plural, sub, _ = need.attributes()
        if not grants.allows(need.verb, group, plural + (f"/{sub}" if sub else ""), need.where(NS, TILLER_NS)):
            missing.append(need.text(NS, TILLER_NS))
    return missing


def test_manifests_parse_and_name_the_env_namespace():
    kinds = set()
    for path in sorted(RBAC.glob("*.yaml")):
        for doc in _docs(path.name):
            assert doc["apiVersion"] in ("v1", "rbac.authorization.k8s.io/v1"), path.name
            kinds.add(doc["kind"])
            ns = doc["metadata"].get("namespace")
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                assert ns is None, f"{path.name}: {doc['kind']} {doc['metadata']['name']} must not have a namespace"
            else:
                assert ns in (NS, TILLER_NS), f"{path.name}: {doc['metadata']['name']} in {ns}"
    assert {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} <= kinds


# ---- the KubeClient's methods ---------------------------------------------------------------
def public_api_methods() -> set[str]:
    """Every public method KubeClient has, from whichever of its parts defines it."""
    names = set()
    for cls in KubeClient.__mro__:
        if not cls.__module__.startswith("c7n_upgrade.kube"):
            continue
        for name, value in vars(cls).items():
            if name.startswith("_") or name in NOT_API:
                continue
            if isinstance(value, (staticmethod, classmethod, property)):
                continue  # pure helpers (crd_body, crd_matches, ...) and attributes make no request
            if inspect.isfunction(value):
                names.add(name)
    return names


def test_public_api_methods_sees_every_part():
    """The method list comes from every part of KubeClient, not only the class that joins them."""
    names = public_api_methods()
    assert {"list_pods", "get_job", "get_crd", "acquire_lock", "proxy_get", "namespace_exists"} <= names


def test_the_declared_helm_needs_are_what_helm_uses():
    """Helm 3 keeps releases in Secrets of the namespace and applies the charts' kinds there, with the run's
    identity; helm 2's client only reaches Tiller, which keeps releases in ITS namespace."""
    resource, ns = RELEASE_STORAGE[3]
    charts_kinds = {f"{plural}.{group}" if group else plural for group, plural in _chart_resources()}
    assert set(rights.CHART_RESOURCES) == charts_kinds
    assert set(rights.HELM3_WRITES) == {Need(v, r) for r in (resource, *charts_kinds) for v in rights.APPLY}
    assert set(rights.HELM3_READS) == {Need("get", resource), Need("list", resource)}  # helm list, get values
    assert RELEASE_STORAGE[2][1] == TILLER_NS  # Tiller's storage: never the client's
    assert {(n.verb, n.resource, n.scope) for n in rights.HELM2_CLIENT} == {
        ("get", "pods", "tiller"), ("list", "pods", "tiller"), ("create", "pods/portforward", "tiller")}


def _tiller_file(dialect: int) -> tuple[str, ...]:
    return ("helm2-tiller.yaml",) if dialect == 2 else ()


@pytest.mark.parametrize("proxy", [True, False], ids=["proxy", "direct"])
@pytest.mark.parametrize("dialect", [2, 3])
def test_upgrade_yaml_grants_every_need_of_an_upgrade(dialect, proxy):
    grants = _grants("upgrade.yaml", *_tiller_file(dialect), sa="c7n-upgrade")
    assert _missing(grants, rights.needs(upgrade=True, helm_dialect=dialect, proxy=proxy)) == []


@pytest.mark.parametrize("dialect", [2, 3])
def test_readonly_yaml_grants_the_read_only_needs_and_no_write(dialect):
    grants = _grants("readonly.yaml", *_tiller_file(dialect), sa="c7n-upgrade-check")
    read_only = rights.needs(upgrade=False, helm_dialect=dialect, proxy=True)
    assert len(read_only) >= 10
    assert _missing(grants, read_only) == []
    own = _grants("readonly.yaml", sa="c7n-upgrade-check")
    assert own.verbs() <= READ, f"write verbs in the read-only role: {sorted(own.verbs() - READ)}"
    writes = [n for n in rights.needs(upgrade=True, helm_dialect=dialect, proxy=True)
              if n.verb not in READ and n not in read_only]
    assert writes and _missing(grants, writes) == [n.text(NS, TILLER_NS) for n in writes]


def test_a_role_missing_a_rule_is_detected():
    """The checker can fail: drop the pods/proxy rule and the proxy call is reported."""
    grants = _grants("upgrade.yaml", sa="c7n-upgrade")
    for _ns, rule in grants.rules:
        if "pods/proxy" in rule.get("resources", []):
            rule["resources"] = [r for r in rule["resources"] if r != "pods/proxy"]
    assert _missing(grants, rights.needs(upgrade=True, helm_dialect=3, proxy=True)) == [f"get pods/proxy in {NS}"]


# ---- helm's needs ---------------------------------------------------------------------------
def _chart_resources() -> set[tuple[str, str]]:
    """(apiGroup, resource) of every object the plan's charts render (sandbox charts = chart layout)."""
    plan = load_plan("0.8-to-0.9")
    out = set()
    for step in plan.steps:
        objs = charts.render(step.release, step.chart, step.version, {}, NS, step.health_port,
                             step.service_port, hooks=[f"{step.release}-init-db"])
        for obj in objs:
            group = obj["apiVersion"].rpartition("/")[0]
            out.add((group, obj["kind"].lower() + "s"))
    return out


def test_chart_resources_derived():
    resources = _chart_resources()
    assert {("apps", "deployments"), ("", "services"), ("batch", "jobs")} <= resources


def test_tiller_may_keep_releases_and_apply_the_charts():
    """Helm 2: Tiller's own rights (helm2-tiller.yaml), which no review by the run's identity can see."""
    resource, ns = RELEASE_STORAGE[2]
    docs = _docs("helm2-tiller.yaml")
    for sa in ("c7n-upgrade", "c7n-upgrade-check"):
        assert not Grants(docs, (NS, sa)).allows("get", "", "configmaps", TILLER_NS)  # the client never reads storage
    tiller = Grants(docs, (TILLER_NS, "tiller"))
    for verb in rights.APPLY:
        assert tiller.allows(verb, "", resource, ns), f"Tiller needs {verb} {resource} in {ns}"
        for group, res in _chart_resources():
            assert tiller.allows(verb, group, res, NS), f"Tiller applies {group}/{res}: needs {verb}"
