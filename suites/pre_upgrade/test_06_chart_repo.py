"""Pre-flight (the guide's first step): the chart repo is added and holds every target version."""
from c7n_upgrade import i18n


def test_chart_repo_has_targets(helm, env, plan, ctx, reporter):
    """`helm repo add` + `helm repo update` (local helm config only); every target chart version is listed."""
    with reporter.step(i18n.title(ctx.lang, "repo", name=env.helm.repo_name)):
        helm.repo_add(env.helm.repo_name, env.helm.repo_url)
        helm.repo_update()
    missing = []
    for step in plan.steps:
        versions = {v.version for v in helm.search_versions(f"{env.helm.repo_name}/{step.chart}")}
        if step.version not in versions:
            missing.append(f"{step.chart} {step.version}")
    assert not missing, f"the chart repo lacks: {', '.join(missing)}"
