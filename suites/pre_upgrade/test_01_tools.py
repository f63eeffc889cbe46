"""Pre-flight: the tools the upgrade drives are here."""
import re


def test_helm_answers(helm, ctx, reporter):
    """helm answers `helm version`; the dialect the suite speaks to it is the one it reports."""
    dialect = helm.dialect()
    said = helm.run(["version", "--short", "--client"], check=False)
    if "unknown flag" in said.stderr + said.stdout:  # a helm without --client
        said = helm.run(["version", "--short"], check=False)
    major = re.search(r"\bv(\d+)\.\d+", said.stdout + said.stderr)
    ctx.results.helm_version = helm.version_string
    reporter.attach("helm version", f"{said.stdout}{said.stderr}")
    assert major, f"`helm version` names no version: {said.stdout}{said.stderr}"
    assert dialect == min(int(major.group(1)), 3), f"helm says v{major.group(1)}, the suite speaks Helm {dialect}"
