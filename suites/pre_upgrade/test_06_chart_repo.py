"""Pre-flight (the guide's first step): the chart repo is added and holds every target version."""
from c7n_upgrade import i18n
from c7n_upgrade.installation import parallel_map


def test_chart_repo_has_targets(helm, env, plan, ctx, reporter):
    """`helm repo add` + `helm repo update` (local helm config only); every target chart version is listed."""
    with reporter.step(i18n.title(ctx.lang, "repo", name=env.helm.repo_name)):
        helm.repo_add(env.helm.repo_name, env.helm.repo_url)
        helm.repo_update()
    def available(step):
        versions = {v.version for v in helm.search_versions(f"{env.helm.repo_name}/{step.chart}")}
        return step.version in versions

    found = parallel_map(available, plan.steps)
    missing = [f"{s.chart} {s.version}" for s, ok in zip(plan.steps, found) if not ok]
    assert not missing, f"the chart repo lacks: {', '.join(missing)}"
