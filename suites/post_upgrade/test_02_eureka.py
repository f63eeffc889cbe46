"""Post-upgrade proof: the registry lists every app at its target VERSION, nothing stale."""
from c7n_upgrade import probes


def test_eureka_versions(final_state, plan):
    """Every expected app is in Eureka at its target VERSION, with no old-version instance left."""
    expected = {s.chart: s.version for s in plan.steps if s.check != "front"}
    problems = probes.eureka_version_problems(final_state.eureka, expected)
    assert not problems, "; ".join(problems)
