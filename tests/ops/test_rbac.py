"""deploy/rbac/*.yaml grant the rights the run needs, and those needs (`c7n_upgrade.kube.rights`, the
one declared list pre-flight proves against the API server) are what the code and helm really use:
- helm's: where each dialect keeps releases (RELEASE_STORAGE: where real helm keeps them, as the node's
  release_of_record reads them), and the kinds helm applies from the sandbox charts' render() of every
  step of the plan; helm's verbs on them are `rights.APPLY` (helm's behaviour, stated there once).
- the KubeClient's: every public KubeClient method is called against the real control plane and its node,
  and `kube.rbac_needs()` (what `_request` recorded) must equal the declared kube needs; a new public
  method fails `test_every_public_kube_method_is_exercised` until it is exercised here.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
import yaml

from c7n_upgrade.kube import KubeClient, LockHeld, ProxyRefused, rights
from c7n_upgrade.kube.rights import Need
from c7n_upgrade.plan import load_plan
from c7n_sandbox import charts
from tests.sandbox.conftest import control_plane  # noqa: F401 - the real control plane, a fixture
from tests.sandbox.test_control_plane import _wait
from tests.sandbox.test_kube_client import age_lock

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


# ---- the KubeClient's needs, recorded against the real control plane --------------------------
class Recorder:
    """Calls KubeClient methods by name and remembers which were called."""

    def __init__(self, kube: KubeClient):
        self.kube = kube
        self.called: set[str] = set()

    def __getattr__(self, name):
        self.called.add(name)
        return getattr(self.kube, name)


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


@pytest.fixture(scope="module")
def recorded(control_plane, tmp_path_factory):
    """Every public KubeClient method run against the real control plane (as its admin, in the env's
    namespace) with a node running a pod; returns (kube, recorder)."""
    from kubernetes import client as k8s, config as kube_config
    from c7n_sandbox.node import Node

    node = Node(control_plane.kubeconfig, tmp_path_factory.mktemp("node")).start()
    api = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig), context="sandbox")
    core, batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    labels = {"choerodon.io/release": "iam-service", "choerodon.io/service": "iam-service",
              "choerodon.io/version": "0.9.0"}
    core.create_namespaced_pod(NS, {"metadata": {"name": "iam-1", "labels": labels}, "spec": {
        "terminationGracePeriodSeconds": 0, "containers": [{"name": "iam", "image": "busybox:1.36",
                                                            "command": ["sh", "-c", "echo log line; sleep 600"],
                                                            "ports": [{"name": "http", "containerPort": 8030}]}]}})
    core.create_namespaced_service(NS, {"metadata": {"name": "iam-service"}, "spec": {
        "selector": labels, "ports": [{"name": "http", "port": 8030}]}})
    batch.create_namespaced_job(NS, {"metadata": {"name": "iam-service-init-db"}, "spec": {"backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "x", "image": "busybox:1.36", "command": ["true"]}]}}}})
    crd = load_plan("0.8-to-0.9").crd
    kube = KubeClient(kubeconfig=str(control_plane.kubeconfig), context="sandbox", namespace=NS)
    try:
        _wait("iam-1 Ready and the hook Job finished", lambda: any(p.ready for p in kube.pods_of_release("iam-service"))
              and kube.get_job("iam-service-init-db").finished, timeout=60)
        kube.calls.clear()

        k = Recorder(kube)
        k.version_info(); k.server_version()
        assert k.namespace_exists() is True and k.namespace_uid()  # the uid keys the first backup of an upgrade
        assert "iam-1" in [p.name for p in k.list_pods()]   # beside the hook Job's pod
        assert len(k.pods_of_release("iam-service")) == 1
        assert k.service("iam-service").port("http") == 8030
        assert k.get_job("iam-service-init-db").finished
        assert len(k.hook_jobs(["iam-service-init-db", "nope"])) == 1
        k.recent_events()
        k.events("involvedObject.kind=Pod,reason=Unhealthy")  # the stability watch's read
        assert "log line" in k.pod_log_tail("iam-1")
        assert k.crd_api_versions() == ["v1"]
        assert k.get_crd(crd.name) is None
        k.create_crd(crd)
        assert k.get_crd(crd.name) is not None
        assert k.get_lock() is None
        k.acquire_lock(owner="first")
        kube2 = KubeClient(kubeconfig=str(control_plane.kubeconfig), context="sandbox", namespace=NS)
        with pytest.raises(LockHeld):
            kube2.acquire_lock(owner="second")
        age_lock(core, namespace=NS)  # a frozen holder: the one --break-lock breaks
        kube2.acquire_lock(owner="second", break_lock=True)  # the --break-lock path: update
        kube.calls.extend(kube2.calls)  # a second run of the same code: its needs count too
        k.check_lock(owner="second")  # the holder's check before a write, and its renewal
        k.renew_lock(owner="second")
        k.record_helm(owner="second", pid=os.getpid(), command="helm upgrade iam-service c7n/iam-service")
        assert k.release_lock(owner="second") is True
        # the real API server refuses to proxy to a loopback pod IP: the calls are made, and refused so
        for call in (lambda: k.proxy_get("iam-1", 8030, "/health", timeout=5), lambda: k.check_proxy(timeout=5)):
            with pytest.raises(ProxyRefused, match="'address not allowed'"):
                call()
        status, _, body = k.proxy_service_get("iam-service", 8030, "/health", timeout=5)
        # no Endpoints to proxy to: the API server refuses loopback addresses there too
        assert status == 503 and b"no endpoints available" in body, body
        assert k.delete_job("iam-service-init-db") is not None
        kube2.close()
        yield kube, k
    finally:
        for delete, args in ((k8s.ApiextensionsV1Api(api).delete_custom_resource_definition, (crd.name,)),
                             (core.delete_namespaced_service, ("iam-service", NS)),
                             (core.delete_namespaced_pod, ("iam-1", NS)),
                             (batch.delete_namespaced_job, ("iam-service-init-db", NS))):
            try:
                delete(*args)
            except Exception:  # noqa: BLE001 - gone already (delete_job), or never made
                pass
        kube.close()
        node.stop()
        core.delete_node(node.name)
        api.close()


def test_every_public_kube_method_is_exercised(recorded):
    _kube, k = recorded
    missing = public_api_methods() - k.called
    assert not missing, (f"KubeClient methods not exercised by this RBAC test: {sorted(missing)}; "
                         "call them in `recorded` so their API rights are checked against deploy/rbac")


def test_recorded_needs_include_the_writes(recorded):
    """Guard against a silent recorder: the writes the upgrade makes were seen."""
    needs = set(recorded[0].rbac_needs())
    assert {("create", "configmaps"), ("update", "configmaps"), ("delete", "configmaps"),
            ("delete", "jobs.batch"), ("create", "customresourcedefinitions.apiextensions.k8s.io"),
            ("get", "pods/proxy"), ("get", "services/proxy"), ("get", "pods/log")} <= needs


KUBE_DECLARED = rights.KUBE_READS + rights.KUBE_PROXY + rights.KUBE_WRITES


def test_the_declared_kube_needs_are_what_the_kube_client_calls(recorded):
    """Equal, not merely covered: a call the list lacks, or a need no code has any more, fails."""
    declared = {(n.verb, n.resource) for n in KUBE_DECLARED}
    assert declared == set(recorded[0].rbac_needs())
    assert len(declared) == len(KUBE_DECLARED)  # each need once
    for need in KUBE_DECLARED:
        group, plural, _sub, _ = need.attributes()
        cluster = bool(need.url) or (group, plural) in CLUSTER_SCOPED
        assert (need.scope == "cluster") == cluster, need
    assert {n.verb for n in rights.KUBE_READS + rights.KUBE_PROXY} <= READ
    assert not {n.verb for n in rights.KUBE_WRITES} & READ


def test_the_declared_helm_needs_are_what_helm_uses():
    """Helm 3 keeps releases in Secrets of the namespace and applies the charts' kinds there, with the run's
    identity; helm 2's client only reaches Tiller, which keeps releases in ITS namespace."""
    resource, ns = RELEASE_STORAGE[3]
    charts_kinds = {f"{plural}.{group}" if group else plural for group, plural in _chart_resources()}
    assert set(rights.CHART_RESOURCES) == charts_kinds
    assert set(rights.HELM3_WRITES) == {Need(v, r) for r in (resource, *charts_kinds) for v in rights.APPLY}
    assert set(rights.HELM3_READS) == {Need("get", resource), Need("list", resource)}  # helm list, get values
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
