"""The pre-flight rights check's wording and logic, with fake access-review answers (the real API
server's answers: tests/sandbox/test_rbac_preflight.py)."""
from __future__ import annotations

import pytest

from c7n_upgrade.kube import rights
from c7n_upgrade.kube.rights import MissingRights, Need

NS = "choerodon-devops-prod"


def refusing(*refused: tuple[str, str, str, str], reason: str = ""):
    """A review that allows all but the (verb, group, plural/sub, namespace-or-url) given; records what it was asked."""
    asked = []

    def review(verb, group, plural, sub, namespace, url):
        key = (verb, group, plural + (f"/{sub}" if sub else ""), url or namespace or "")
        asked.append(key)
        return key not in refused, reason if key in refused else ""
    review.asked = asked
    return review


UPGRADE = rights.needs(upgrade=True, helm_dialect=3, proxy=False)


def test_one_refused_verb_is_named_with_its_resource_namespace_and_context():
    review = refusing(("patch", "apps", "deployments", NS))
    with pytest.raises(MissingRights) as err:
        rights.check(review, UPGRADE, identity="context c7n-upgrade", namespace=NS)
    assert str(err.value) == ("the kube identity (context c7n-upgrade) may not patch deployments.apps in "
                              f"{NS}, which this run needs: helm 3 applies the charts' objects")
    assert [(n.verb, n.resource) for n in err.value.denied] == [("patch", "deployments.apps")]
    assert len(review.asked) == len(UPGRADE)  # every need asked, once


def test_the_servers_reason_and_the_other_refusals_follow_the_first():
    review = refusing(("delete", "batch", "jobs", NS), ("create", "apiextensions.k8s.io", "customresourcedefinitions", ""),
                      ("get", "", "pods/log", NS), reason="no RBAC policy matched")
    with pytest.raises(MissingRights) as err:
        rights.check(review, UPGRADE, identity="context x", namespace=NS)
    assert str(err.value) == (
        f"the kube identity (context x) may not get pods/log in {NS}, which this run needs: a failing pod's last "
        "log lines (the API server says: no RBAC policy matched); 2 more refused: "
        f"delete jobs.batch in {NS}; create customresourcedefinitions.apiextensions.k8s.io (cluster scope)")


def test_many_refusals_name_a_few_and_count_the_rest():
    review = refusing(*[(v, "", "secrets", NS) for v in rights.APPLY])
    with pytest.raises(MissingRights) as err:
        rights.check(review, UPGRADE, identity="context x", namespace=NS)
    assert str(err.value).endswith(f"6 more refused: list secrets in {NS}; watch secrets in {NS}; create secrets "
                                   f"in {NS}; update secrets in {NS}; and 2 others")
    assert len(err.value.denied) == 7


def test_non_resource_urls_and_tillers_namespace_are_asked_as_such():
    review = refusing(("create", "", "pods/portforward", "kube-system"), ("get", "", "", "/version"))
    with pytest.raises(MissingRights) as err:
        rights.check(review, rights.needs(upgrade=False, helm_dialect=2, proxy=False), identity="context c",
                     namespace=NS, tiller_namespace="kube-system")
    assert str(err.value).startswith("the kube identity (context c) may not get /version, which this run needs")
    assert str(err.value).endswith("1 more refused: create pods/portforward in kube-system")


def test_all_allowed_passes_silently():
    rights.check(refusing(), UPGRADE, identity="context c", namespace=NS)


def test_the_read_only_needs_are_reads_and_the_upgrade_adds_writes():
    for dialect in (2, 3, None):
        for proxy in (True, False):
            read_only = rights.needs(upgrade=False, helm_dialect=dialect, proxy=proxy)
            writes = {n for n in read_only if n.verb not in rights.READ}
            # helm 2's client reads through a port-forward to Tiller, a create (helm2-tiller.yaml says so)
            assert writes == ({Need("create", "pods/portforward", "tiller")} if dialect == 2 else set()), (dialect, proxy)
            upgrade = rights.needs(upgrade=True, helm_dialect=dialect, proxy=proxy)
            assert set(read_only) < set(upgrade)
    assert Need("patch", "deployments.apps") in rights.needs(upgrade=True, helm_dialect=3, proxy=False)
    assert Need("patch", "deployments.apps") not in rights.needs(upgrade=True, helm_dialect=2, proxy=False)
    assert Need("get", "pods/proxy") not in rights.needs(upgrade=False, helm_dialect=3, proxy=False)
    assert Need("get", "pods/proxy") in rights.needs(upgrade=False, helm_dialect=3, proxy=True)
