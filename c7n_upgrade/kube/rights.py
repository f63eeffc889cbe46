"""The Kubernetes rights a run needs, declared once, and their proof before anything is changed.

- `needs(upgrade=..., helm_dialect=..., proxy=...)` is THE list: what KubeClient calls (its
  `(verb, resource)` spelling, `Transport.calls`) and what helm does with the run's identity.
  tests/ops/test_rbac.py proves it equals what the code records and what helm uses, and that
  deploy/rbac/*.yaml grant it.
- `prove()` asks the API server, as the run's own identity, one SelfSubjectAccessReview per need
  (the official client; every authenticated user may ask about itself) and raises `MissingRights`
  naming the first refused verb, resource, namespace and context.
- Helm 2: Tiller applies the charts with ITS rights, which no review of ours can see; only what
  the helm 2 client itself does (find Tiller, port-forward to it) is checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from ..parallel import parallel_map
from .errors import ClusterUnreachable, KubeError

READ = ("get", "list", "watch")
#: what helm does to an object it applies: reads it, creates or 3-way patches it, deletes what a
#: chart drops and hooks per their policy, watches hook Jobs
APPLY = READ + ("create", "update", "patch", "delete")
#: the kinds the plan's charts render (tests/ops/test_rbac.py derives them from the charts)
CHART_RESOURCES = ("deployments.apps", "jobs.batch", "services")


@dataclass(frozen=True, order=True)
class Need:
    """One right: `resource` as KubeClient spells it (`plural[/sub][.group]`, or `nonResourceURLs:/path`);
    `scope` is `namespace` (the env's), `tiller` (helm 2's Tiller namespace) or `cluster`."""

    verb: str
    resource: str
    scope: str = "namespace"
    why: str = field(default="", compare=False)

    @property
    def url(self) -> Optional[str]:
        return self.resource.split(":", 1)[1] if self.resource.startswith("nonResourceURLs:") else None

    def attributes(self) -> tuple[str, str, str, str]:
        """(group, plural, subresource, resource as written): 'pods/log' -> ('', 'pods', 'log', ...)."""
        if self.url:
            return "", "", "", self.resource
        name, _, group = self.resource.partition(".")
        plural, _, sub = name.partition("/")
        return group, plural, sub, self.resource

    def where(self, namespace: str, tiller_namespace: str) -> Optional[str]:
        return {"namespace": namespace, "tiller": tiller_namespace}.get(self.scope)

    def text(self, namespace: str, tiller_namespace: str) -> str:
        """'patch deployments.apps in NS' / 'get customresourcedefinitions... (cluster scope)' / 'get /version'."""
        if self.url:
            return f"{self.verb} {self.url}"
        ns = self.where(namespace, tiller_namespace)
        return f"{self.verb} {self.resource} " + (f"in {ns}" if ns else "(cluster scope)")


def _each(verbs: Iterable[str], resources: Iterable[str], why: str, scope: str = "namespace") -> tuple[Need, ...]:
    return tuple(Need(v, r, scope, why) for r in resources for v in verbs)


CRD = "customresourcedefinitions.apiextensions.k8s.io"
#: KubeClient's reads: every phase (the read-only proof included)
KUBE_READS = (
    Need("get", "nonResourceURLs:/version", "cluster", "the cluster's version"),
    Need("get", "nonResourceURLs:/apis/apiextensions.k8s.io", "cluster", "the CRD API versions served"),
    Need("get", "namespaces", "cluster", "the namespace and its uid"),
    Need("get", CRD, "cluster", "the devops CRD"),
    Need("list", "pods", why="each release's pods"),
    Need("get", "pods/log", why="a failing pod's last log lines"),
    Need("get", "services", why="the Services' ports and clusterIPs"),
    Need("list", "events", why="what Kubernetes saw of the pods"),
    Need("get", "jobs.batch", why="hook Jobs"),
    Need("get", "configmaps", why="the upgrade lock's holder"),
)
#: with `access: proxy`: pods' and Services' HTTP through the API server
KUBE_PROXY = (Need("get", "pods/proxy", why="health through the pod proxy (access: proxy)"),
              Need("get", "services/proxy", why="the front page through the service proxy (access: proxy)"))
#: KubeClient's writes: the upgrade phase only
KUBE_WRITES = (
    *_each(("create", "update", "delete"), ["configmaps"], "the upgrade lock"),
    Need("delete", "jobs.batch", why="finished leftover hook Jobs"),
    Need("create", CRD, "cluster", "the devops CRD when missing"),
)
#: helm 3 works with the run's identity: its release Secrets, then the charts' objects
HELM3_READS = _each(("get", "list"), ["secrets"], "helm 3 reads its releases (Secrets)")
HELM3_WRITES = (*_each(APPLY, ["secrets"], "helm 3 keeps its releases in Secrets"),
                *_each(APPLY, CHART_RESOURCES, "helm 3 applies the charts' objects"))
#: the helm 2 client finds Tiller's pod and port-forwards to it, in Tiller's namespace
HELM2_CLIENT = (*_each(("get", "list"), ["pods"], "helm 2 finds Tiller's pod", "tiller"),
                Need("create", "pods/portforward", "tiller", "helm 2 reaches Tiller by port-forward"))


def needs(*, upgrade: bool, helm_dialect: Optional[int], proxy: bool) -> list[Need]:
    """Every right a run needs: the read-only proof's, or with `upgrade` the upgrade phase's too;
    helm's for its dialect (None: unknown, helm's left out)."""
    out = list(KUBE_READS) + (list(KUBE_PROXY) if proxy else [])
    if upgrade:
        out += KUBE_WRITES
    if helm_dialect == 2:
        out += HELM2_CLIENT
    elif helm_dialect is not None:
        out += HELM3_WRITES if upgrade else HELM3_READS
    seen: dict[tuple[str, str, str], Need] = {}
    for need in out:
        seen.setdefault((need.verb, need.resource, need.scope), need)  # the first reason given stays
    return list(seen.values())


# ---- the proof --------------------------------------------------------------------------------
SHOWN = 4  # refusals named after the first; the rest counted


class MissingRights(KubeError):
    """The identity may not do something the run needs; nothing was changed yet."""

    def __init__(self, identity: str, denied: list[tuple[Need, str]], namespace: str, tiller_namespace: str):
        self.denied = [need for need, _reason in denied]
        first, reason = denied[0]
        text = first.text(namespace, tiller_namespace)
        verb, _, what = text.partition(" ")
        message = (f"the kube identity ({identity}) may not {verb} {what}, which this run needs: {first.why}"
                   + (f" (the API server says: {reason})" if reason else ""))
        if len(denied) > 1:
            shown = [n.text(namespace, tiller_namespace) for n, _r in denied[1:SHOWN + 1]]
            rest = len(denied) - 1 - len(shown)
            message += f"; {len(denied) - 1} more refused: " + "; ".join(shown) + (f"; and {rest} others" if rest else "")
        super().__init__(message)


#: one review: (verb, group, plural, subresource, namespace or None, url or None) -> (allowed, reason)
Review = Callable[[str, str, str, str, Optional[str], Optional[str]], tuple[bool, str]]


def check(review: Review, wanted: list[Need], *, identity: str, namespace: str,
          tiller_namespace: str = "kube-system") -> None:
    """Raise `MissingRights` for the needs `review` refuses (in the order declared)."""
    def one(need: Need) -> tuple[bool, str]:
        group, plural, sub, _ = need.attributes()
        return review(need.verb, group, plural, sub, need.where(namespace, tiller_namespace), need.url)

    answers = parallel_map(one, wanted, workers=8)
    denied = [(need, reason) for need, (allowed, reason) in zip(wanted, answers) if not allowed]
    if denied:
        raise MissingRights(identity, denied, namespace, tiller_namespace)


def access_review(kube) -> Review:
    """SelfSubjectAccessReview through the official client, with the KubeClient's connection."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.AuthorizationV1Api(kube.api_client)

    def review(verb, group, plural, sub, namespace, url):
        if url:
            spec = client.V1SelfSubjectAccessReviewSpec(
                non_resource_attributes=client.V1NonResourceAttributes(path=url, verb=verb))
        else:
            spec = client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
                verb=verb, group=group, resource=plural, subresource=sub or None, namespace=namespace))
        try:
            answer = api.create_self_subject_access_review(client.V1SelfSubjectAccessReview(spec=spec),
                                                           _request_timeout=kube.request_timeout)
        except ApiException as exc:
            if not exc.status:  # TLS and the like come back as status 0
                raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {kube.api_server_url}: "
                                         f"{exc.reason}") from None
            raise KubeError(f"the API server at {kube.api_server_url} did not answer a SelfSubjectAccessReview "
                            f"(HTTP {exc.status} {exc.reason})") from None
        except Exception as exc:  # urllib3: no connection, no answer in time
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {kube.api_server_url}: "
                                     f"{type(exc).__name__}") from None
        status = answer.status
        return bool(status.allowed) and not status.denied, status.reason or status.evaluation_error or ""

    return review


def identity(kube) -> str:
    """'context NAME' of the KubeClient's kubeconfig (its current context when the env names none)."""
    if kube.context:
        return f"context {kube.context}"
    from kubernetes import config as kube_config

    try:
        _contexts, active = kube_config.list_kube_config_contexts(kube.kubeconfig)
    except Exception:  # in-cluster: no kubeconfig
        return "the pod's ServiceAccount"
    return f"context {active['name']}" if active else "the kubeconfig's user"


def prove(kube, wanted: list[Need], *, namespace: str, tiller_namespace: str = "kube-system") -> None:
    """Ask the API server whether the KubeClient's identity has every need; `MissingRights` if not."""
    check(access_review(kube), wanted, identity=identity(kube), namespace=namespace,
          tiller_namespace=tiller_namespace)
