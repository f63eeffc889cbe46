"""Post-upgrade proof: the CRD devops-service needs is there, as the guide writes it."""


def test_crd_matches_guide(kube, plan):
    """c7nhelmreleases.choerodon.io exists with the guide's group, version, scope and names."""
    crd = kube.get_crd(plan.crd.name)
    assert crd is not None, f"CRD {plan.crd.name} not found"
    problems = kube.crd_matches(crd, plan.crd.model_dump())
    assert not problems, "; ".join(problems)
