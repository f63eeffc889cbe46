"""deploy/rbac/*.yaml parse and grant what the code actually calls — no more for the read-only role.

The needs are not a hand-kept list:
- the KubeClient's: every public KubeClient method is called against the sandbox API server and
  `kube.rbac_needs()` (what `_request` recorded) is compared with the Role/ClusterRole rules; a new
  public method fails `test_every_public_kube_method_is_exercised` until it is exercised here;
- helm's: where each dialect keeps releases comes from the sandbox helm's ReleaseStorage (the same
  places real helm uses), and the kinds helm applies from the sandbox charts' render() of every
  step of the plan; helm's verb set on them (apply = get + create + 3-way patch, delete of dropped
  objects and hooks, watch on hook Jobs) is helm's behaviour, stated once below.
"""
from __future__ import annotations

import inspect
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from c7n_upgrade.kube import KubeClient, LockHeld
from c7n_upgrade.plan import load_plan
from tests.sandbox.test_kube_client import age_lock
from c7n_upgrade.sandbox import charts
from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from c7n_upgrade.sandbox.helm.storage import ReleaseStorage

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "deploy" / "rbac"
NS = yaml.safe_load((ROOT / "envs" / "prod.yaml").read_text(encoding="utf-8"))["namespace"]
TILLER_NS = "kube-system"
READ = {"get", "list", "watch"}
HELM_APPLY = READ | {"create", "update", "patch", "delete"}
NOT_API = {"close", "rbac_needs"}  # public KubeClient methods that make no API call


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


def _split(resource: str) -> tuple[str, str]:
    """KubeClient's resource string -> (apiGroup, resource): 'jobs.batch' -> ('batch', 'jobs')."""
    plural, _, group = resource.partition(".")
    return group, plural


def _missing(grants: Grants, needs) -> list[str]:
    missing = []
    for verb, resource in needs:
        if resource.startswith("nonResourceURLs:"):
            url = resource.split(":", 1)[1]
            if not grants.allows_url(url):
                missing.append(f"{verb} {url}")
            continue
        group, plural = _split(resource)
        ns = None if (group, plural.split("/")[0]) in CLUSTER_SCOPED else NS
        if not grants.allows(verb, group, plural, ns):
            missing.append(f"{verb} {resource}" + (f" in {ns}" if ns else " (cluster)"))
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


# ---- the KubeClient's needs, recorded against the sandbox API server --------------------------
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
def recorded(tmp_path_factory):
    """Every public KubeClient method run against a sandbox API server; returns (kube, recorder)."""
    tmp = tmp_path_factory.mktemp("rbac")
    store = Store()
    server = ApiServer(store, log_path=str(tmp / "apiserver.log"), log_provider=lambda ns, name, tail: "log line\n")
    url = server.start()
    write_kubeconfig(str(tmp / "kubeconfig"), url, NS)
    kube = KubeClient(kubeconfig=str(tmp / "kubeconfig"))

    # a pod answering HTTP on loopback (for the proxy calls), its Service, a finished hook Job, an event
    http = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (BaseHTTPRequestHandler,), {
        "do_GET": lambda self: (self.send_response(200), self.send_header("Content-Length", "2"),
                                self.end_headers(), self.wfile.write(b"UP")),
        "log_message": lambda self, *a: None}))
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = http.server_address[1]
    labels = {"choerodon.io/release": "iam-service", "choerodon.io/service": "iam-service",
              "choerodon.io/version": "0.9.0"}
    store.create("pods", {"metadata": {"name": "iam-1", "labels": labels},
                          "spec": {"containers": [{"name": "iam", "image": "x", "ports": [{"containerPort": port}]}]},
                          "status": {"phase": "Running", "podIP": "127.0.0.1",
                                     "conditions": [{"type": "Ready", "status": "True"}]}}, NS)
    store.create("services", {"metadata": {"name": "iam-service"},
                              "spec": {"clusterIP": "127.0.0.1", "ports": [{"name": "http", "port": port}]}}, NS)
    store.create("jobs.batch", {"metadata": {"name": "iam-service-init-db"},
                                "spec": {"template": {"spec": {"containers": [{"name": "x", "image": "x"}]}}}}, NS)
    store.update_status("jobs.batch", NS, "iam-service-init-db", {"succeeded": 1})
    store.create("events", {"metadata": {"name": "ev"}, "involvedObject": {"kind": "Pod", "name": "iam-1"},
                            "reason": "Pulled", "message": "m", "lastTimestamp": "2019-01-01T00:00:00Z"}, NS)

    k = Recorder(kube)
    crd = load_plan("0.8-to-0.9").crd
    k.version_info(); k.server_version()
    assert k.namespace_exists() is True and k.namespace_uid()  # the uid keys the first backup of an upgrade
    assert [p.name for p in k.list_pods()] == ["iam-1"]
    assert len(k.pods_of_release("iam-service")) == 1
    assert k.service("iam-service").port("http") == port
    assert k.get_job("iam-service-init-db").finished
    assert len(k.hook_jobs(["iam-service-init-db", "nope"])) == 1
    k.recent_events()
    k.events("involvedObject.kind=Pod,reason=Unhealthy")  # the stability watch's read
    assert "log line" in k.pod_log_tail("iam-1")
    assert k.crd_api_versions() == ["v1beta1"]
    assert k.get_crd(crd.name) is None
    k.create_crd(crd)
    assert k.get_crd(crd.name) is not None
    assert k.get_lock() is None
    k.acquire_lock(owner="first")
    kube2 = KubeClient(kubeconfig=str(tmp / "kubeconfig"))
    with pytest.raises(LockHeld):
        kube2.acquire_lock(owner="second")
    age_lock(store)  # a frozen holder: the one --break-lock breaks
    kube2.acquire_lock(owner="second", break_lock=True)  # the --break-lock path: update
    kube.calls.extend(kube2.calls)  # a second run of the same code: its needs count too
    k.check_lock(owner="second")  # the holder's check before a write, and its renewal
    k.renew_lock(owner="second")
    k.record_helm(owner="second", pid=os.getpid(), command="helm upgrade iam-service c7n/iam-service")
    assert k.release_lock(owner="second") is True
    assert k.proxy_get("iam-1", port, "/health", timeout=5)[0] == 200
    assert k.proxy_service_get("iam-service", port, "/health", timeout=5)[0] == 200
    assert k.delete_job("iam-service-init-db") is not None
    kube2.close()
    yield kube, k
    kube.close()
    http.shutdown()
    http.server_close()
    server.stop()


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


def test_upgrade_role_covers_every_kube_call(recorded):
    grants = _grants("upgrade.yaml", sa="c7n-upgrade")
    assert _missing(grants, recorded[0].rbac_needs()) == []


def test_readonly_role_covers_every_read_and_grants_no_write(recorded):
    grants = _grants("readonly.yaml", sa="c7n-upgrade-check")
    reads = [(v, r) for v, r in recorded[0].rbac_needs() if v in READ]
    assert len(reads) >= 10
    assert _missing(grants, reads) == []
    assert grants.verbs() <= READ, f"write verbs in the read-only role: {sorted(grants.verbs() - READ)}"
    writes = [(v, r) for v, r in recorded[0].rbac_needs() if v not in READ]
    assert writes and _missing(grants, writes) == [f"{v} {r}" + (" (cluster)" if "customresource" in r else f" in {NS}")
                                                   for v, r in writes]


def test_a_role_missing_a_rule_is_detected(recorded):
    """The checker can fail: drop the pods/proxy rule and the proxy call is reported."""
    grants = _grants("upgrade.yaml", sa="c7n-upgrade")
    for _ns, rule in grants.rules:
        if "pods/proxy" in rule.get("resources", []):
            rule["resources"] = [r for r in rule["resources"] if r != "pods/proxy"]
    assert _missing(grants, recorded[0].rbac_needs()) == [f"get pods/proxy in {NS}"]


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


@pytest.mark.parametrize("dialect", [2, 3])
def test_helm_storage_and_chart_objects_are_granted(dialect):
    resource, ns, _selector = ReleaseStorage(api=None, dialect=dialect, tiller_namespace=TILLER_NS)._where(NS)
    if dialect == 3:
        # helm 3 runs with the operator's credentials: storage Secrets in the release namespace
        assert (resource, ns) == ("secrets", NS)
        upgrade = _grants("upgrade.yaml", sa="c7n-upgrade")
        readonly = _grants("readonly.yaml", sa="c7n-upgrade-check")
        for verb in HELM_APPLY:
            assert upgrade.allows(verb, "", resource, ns), f"upgrade.yaml: helm 3 needs {verb} {resource} in {ns}"
        for verb in ("get", "list"):  # helm list / status / get values
            assert readonly.allows(verb, "", resource, ns), f"readonly.yaml: helm 3 list needs {verb} {resource}"
        appliers = [upgrade]
    else:
        # helm 2: the client reaches Tiller by port-forward; Tiller writes ConfigMaps in its namespace
        assert (resource, ns) == ("configmaps", TILLER_NS)
        docs = _docs("helm2-tiller.yaml")
        for sa in ("c7n-upgrade", "c7n-upgrade-check"):
            client = Grants(docs, (NS, sa))
            assert client.allows("list", "", "pods", TILLER_NS)
            assert client.allows("create", "", "pods/portforward", TILLER_NS)
            assert not client.allows("get", "", "configmaps", TILLER_NS)  # the client never reads storage
        tiller = Grants(docs, (TILLER_NS, "tiller"))
        for verb in HELM_APPLY:
            assert tiller.allows(verb, "", resource, ns), f"Tiller needs {verb} {resource} in {ns}"
        appliers = [tiller, _grants("upgrade.yaml", sa="c7n-upgrade")]  # helm 3 later on the same cluster
    for grants in appliers:
        for group, res in _chart_resources():
            for verb in HELM_APPLY:
                assert grants.allows(verb, group, res, NS), f"helm {dialect} applies {group}/{res}: needs {verb}"
