"""Pre-flight: the tools the upgrade drives are here."""
import re


def test_helm_answers(helm, ctx, reporter):
    """helm answers `helm version`; the dialect the suite speaks to it is the one it reports."""
    dialect = helm.dialect()
    said = helm.version_output  # helm's own words, read again here
    reporter.attach("helm version", said)
    major = re.search(r"\bv(\d+)\.\d+", said)
    assert major, f"`helm version` names no version: {said!r}"
    ctx.results.helm_version = helm.version_string
    assert dialect == min(int(major.group(1)), 3), f"helm says v{major.group(1)}, the suite speaks Helm {dialect}"
