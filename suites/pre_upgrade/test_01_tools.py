"""Pre-flight: the tools the upgrade drives are here."""
import re


def test_helm_answers(helm, releases, ctx, reporter):
    """helm answers in the dialect the suite speaks to it: the one `helm version` reports, or the one the
    env states (helm.dialect: then helm is not asked its version, and its first answer proves it)."""
    if helm.dialect_stated:
        releases.listed()  # the run's one `helm list`: a helm of the other dialect fails it, naming the cause
        reporter.note(f"helm.dialect: {helm.dialect()} (stated in the env; `helm version` not asked)")
        ctx.results.helm_version = f"Helm {helm.dialect()} (env helm.dialect)"
        return
    dialect = helm.dialect()
    said = helm.version_output  # helm's own words, read again here
    reporter.attach("helm version", said)
    major = re.search(r"\bv(\d+)\.\d+", said)
    assert major, f"`helm version` names no version: {said!r}"
    ctx.results.helm_version = helm.version_string
    assert dialect == min(int(major.group(1)), 3), f"helm says v{major.group(1)}, the suite speaks Helm {dialect}"
