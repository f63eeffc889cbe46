"""Pre-flight (the guide's first step): the chart repo is configured and holds every target version."""
import pytest

from c7n_upgrade import i18n
from c7n_upgrade.parallel import parallel_map


def test_chart_repo_has_targets(helm, settings, plan, ctx, reporter):
    """`helm repo add` (when missing) + `helm repo update` (local helm config only); every target chart version is listed."""
    name, url = settings.chart_repo, settings.chart_repo_url
    with reporter.step(i18n.title(ctx.lang, "repo", name=name)):
        configured = helm.repo_url(name)
        if configured is not None and configured.rstrip("/") != url.rstrip("/"):
            pytest.fail(f"helm repo {name!r} points at {configured}, the env file says {url}: "
                        "make them agree (the suite never overwrites a configured repo)", pytrace=False)
        if ctx.dry_run:
            if configured is None:
                pytest.skip(f"dry run: helm has no repo {name!r}; the real run adds it ({url})")
            reporter.note(f"dry run: versions read from the local index of {name!r} (no repo update)")
        else:
            if configured is None:
                helm.repo_add(name, url)
            helm.repo_update()

    def available(step):
        versions = {v.version for v in helm.search_versions(f"{name}/{step.chart}")}
        return step.version in versions

    found = parallel_map(available, plan.steps)
    missing = [f"{s.chart} {s.version}" for s, ok in zip(plan.steps, found) if not ok]
    assert not missing, f"the chart repo lacks: {', '.join(missing)}"
