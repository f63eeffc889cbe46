"""Pre-flight: the tools the upgrade drives are here."""


def test_helm_answers(helm, ctx, reporter):
    """helm answers `helm version`; its dialect (Helm 2 or 3) is detected."""
    dialect = helm.dialect()
    ctx.results["helm_version"] = helm.version_string
    reporter.attach("helm version", ctx.results["helm_version"])
    assert dialect in (2, 3)
