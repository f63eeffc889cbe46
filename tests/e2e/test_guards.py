"""What keeps an operator safe: dry run, the CI guard, the lock, and refusing bad input up front."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest
import yaml

from tests.e2e.harness import ROOT, ObservedSandbox, attachment_names, run_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox08(tmp_path_factory):
    """A sandbox left at 0.8: only read-only or refused runs touch it in this module, in file order."""
    base = tmp_path_factory.mktemp("guards")
    with ObservedSandbox(base / "sandbox") as sb:
        yield sb, base


def _api(sb, path, method="GET", body=None):
    return sb.api(path, method, body)


def _versions(sb):
    _, deploys = _api(sb, "/apis/apps/v1/namespaces/choerodon-devops-prod/deployments")
    return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]["choerodon.io/version"]
            for d in deploys["items"]}


def test_dry_run_changes_nothing_and_records_every_command(sandbox08):
    sb, base = sandbox08
    before = _versions(sb)
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--dry-run", "--allow-upgrade-in-ci")
    assert run.exit_code == 0, run.output[-3000:]
    verbs = {" ".join(c["argv"][:2]) if c["argv"][0] in ("repo", "get") else c["argv"][0] for c in sb.helm_calls()}
    assert verbs <= {"version", "list", "get values", "search", "status", "history", "repo list"}, verbs
    assert _versions(sb) == before
    assert "notify_service" not in sb.databases()
    status, _ = _api(sb, "/apis/apiextensions.k8s.io/v1beta1/customresourcedefinitions/c7nhelmreleases.choerodon.io")
    assert status == 404, "a dry run created the CRD"
    status, _ = _api(sb, "/api/v1/namespaces/choerodon-devops-prod/configmaps/c7n-upgrade-lock")
    assert status == 404, "a dry run took the lock"
    names = attachment_names(run)
    for release in ("register-server", "notify-service", "devops-service", "choerodon-front"):
        assert f"helm command (dry run) {release}" in names
        assert f"values diff {release}" in names
    # the recorded commands are the real ones, redacted, with the target versions
    text = run.all_text()
    assert "upgrade devops-service c7n/devops-service --version 0.9.3" in text
    assert "install c7n/notify-service --name notify-service" in text
    for secret in sb.secrets().values():
        assert secret not in text



def test_ci_guard_skips_the_upgrade_phase(sandbox08):
    sb, base = sandbox08
    run = run_suite(base, "suites/pre_upgrade", "suites/upgrade", "--env", str(sb.env_file), ci=True)
    assert run.exit_code == 0, run.output[-3000:]
    upgrade = {k: v for k, v in run.outcomes().items() if "suites/upgrade" in k}
    assert upgrade and all("CI=true" in v and "--allow-upgrade-in-ci" in v for v in upgrade.values())
    assert sb.writes() == []


def test_a_held_lock_refuses_the_upgrade_and_names_the_holder(sandbox08):
    sb, base = sandbox08
    lock = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c7n-upgrade-lock", "namespace": "choerodon-devops-prod",
                         "annotations": {"c7n-upgrade/owner": "alice@bastion-2:4242",
                                         "c7n-upgrade/since": "2026-11-26T01:00:00+00:00",
                                         "c7n-upgrade/host": "bastion-2", "c7n-upgrade/pid": "4242"}}}
    status, _ = _api(sb, "/api/v1/namespaces/choerodon-devops-prod/configmaps", "POST", lock)
    assert status == 201
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    # stopped before any test, with one cause and the right Next line (no "fix step 1")
    assert run.exit_code == 4
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "another upgrade run holds the lock" in errors[0]
    assert "owner alice@bastion-2:4242 on host bastion-2 (pid 4242)" in errors[0]
    assert re.search(r"since 2026-11-26T01:00:00\+00:00 \((\d+[dhm] ?)+ ago\)", errors[0]), errors[0]
    assert ("Next: wait for that run to finish; this one changed nothing. If it is gone (no such process on "
            "that host), re-run this command with --break-lock.") in run.output
    assert "Traceback" not in run.output and "fix step" not in run.output
    assert sb.writes() == []
    assert run.outcome()["outcome"] == "stopped" and "holds the lock" in run.outcome()["headline"]
    assert "another upgrade run holds the lock" in (run.run_dir / "run.log").read_text()


def test_break_lock_takes_over_and_releases_it(sandbox08):
    sb, base = sandbox08
    run = run_suite(base, "suites/upgrade/test_01_register_server.py", "--env", str(sb.env_file),
                    "--allow-upgrade-in-ci", "--break-lock")
    assert run.exit_code == 0, run.output[-3000:]
    # it says what it broke: whose lock, and how old
    assert re.search(r"--break-lock: broke the lock of ConfigMap choerodon-devops-prod/c7n-upgrade-lock, owner "
                     r"alice@bastion-2:4242 on host bastion-2 \(pid 4242\), since \S+ \((\d+[dhm] ?)+ ago\)",
                     run.output), run.output[-2000:]
    assert [a[:2] for a in sb.writes()] == [["upgrade", "register-server"]]
    status, _ = _api(sb, "/api/v1/namespaces/choerodon-devops-prod/configmaps/c7n-upgrade-lock")
    assert status == 404, "the lock was not released at the end"


# ---- bad input: refused before anything is touched ------------------------------------------------
def _pytest(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("C7N_") and k != "CI"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-o", "addopts="],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_unknown_env_is_a_usage_error_listing_the_envs():
    proc = _pytest("suites/post_upgrade", "--env", "staging")
    assert proc.returncode == 4
    assert "unknown env 'staging'" in proc.stderr and "prod" in proc.stderr and "sandbox" in proc.stderr


def test_the_suite_refuses_to_be_spread_over_xdist_workers(tmp_path):
    """Its steps are ordered: two workers would run steps side by side, each with its own lock."""
    run = run_suite(tmp_path, "suites/", "--env", "sandbox", "-n", "2")
    assert run.exit_code == 4 and "run it without -n" in run.output, run.output[-2000:]
    assert "sandbox: starting" not in run.output


def test_a_plan_whose_operations_the_step_modules_do_not_bind_is_refused_before_anything_runs(sandbox08):
    sb, base = sandbox08
    plan = (ROOT / "plans" / "0.8-to-0.9.yaml").read_text()
    assert plan.count("before: [crd, gitlab-ssh]") == 1
    path = base / "plan-without-gitlab-ssh.yaml"
    path.write_text(plan.replace("before: [crd, gitlab-ssh]", "before: [crd]"))
    before = sb.writes()
    run = run_suite(base, "suites/", "--env", str(sb.env_with("env-other-plan", plan=str(path))))
    assert run.exit_code == 4, run.output[-2000:]
    assert "step 11 declares test_crd, test_upgrade, test_rollout" in run.flat_output(), run.output[-2000:]
    assert sb.writes() == before


def test_missing_secret_variable_is_named(tmp_path):
    proc = _pytest("suites/post_upgrade", "--env", "prod")
    assert proc.returncode == 4
    # the read-only proof needs only the three secrets it reads with: those are named, on one line
    assert "prod.yaml: not set in the environment: C7N_MYSQL_PASSWORD (key 'mysql.password')" in proc.stderr
    assert "C7N_MYSQL_ROOT_PASSWORD" not in proc.stderr and "Next: export each of them" in proc.stderr


def test_broken_env_file_names_file_key_and_expectation(tmp_path):
    data = yaml.safe_load((ROOT / "envs" / "prod.yaml").read_text())
    data["mysql"]["port"] = "three-thousand"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    secrets = {v.strip("${}"): "x" * 12 for v in _secret_refs(data)}
    proc = _pytest("suites/post_upgrade", "--env", str(path), env_extra=secrets)
    assert proc.returncode == 4
    assert "broken.yaml" in proc.stderr and "mysql.port" in proc.stderr and "integer" in proc.stderr


def test_a_literal_password_in_the_file_is_refused_without_echoing_it(tmp_path):
    data = yaml.safe_load((ROOT / "envs" / "prod.yaml").read_text())
    data["mysql"]["password"] = "hunter2-literal"
    path = tmp_path / "literal.yaml"
    path.write_text(yaml.safe_dump(data))
    secrets = {v.strip("${}"): "x" * 12 for v in _secret_refs(data)}
    proc = _pytest("suites/post_upgrade", "--env", str(path), env_extra=secrets)
    assert proc.returncode == 4
    assert "mysql.password" in proc.stderr
    assert "hunter2-literal" not in proc.stdout + proc.stderr


def test_a_secrets_file_readable_by_others_is_refused(tmp_path, sandbox08):
    sb, _ = sandbox08
    data = sb.env_data()
    secrets = tmp_path / "secrets.env"
    secrets.write_text((sb.dir / "secrets.env").read_text())
    secrets.chmod(0o644)
    data["secrets_file"] = str(secrets)
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = _pytest("suites/post_upgrade", "--env", str(path))
    assert proc.returncode == 4
    assert "secrets.env" in proc.stderr and stat.S_IMODE(secrets.stat().st_mode) == 0o644


def test_an_unreachable_cluster_stops_the_run_with_one_message(tmp_path, sandbox08):
    sb, base = sandbox08
    kubeconfig = yaml.safe_load((sb.dir / "kubeconfig").read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"  # discard port: refused
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(kubeconfig))
    kc.chmod(0o600)
    path = sb.env_with("env-unreachable", kube={"kubeconfig": str(kc), "context": "sandbox"})
    calls_before = len(sb.helm_calls())
    run = run_suite(base, "suites/", "--env", str(path), "--allow-upgrade-in-ci")
    # one cause, one message, before any test: not a failure per test
    assert run.exit_code == 4
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert errors == ["ERROR: cannot reach the Kubernetes API server at http://127.0.0.1:9: "
                      + errors[0].split("http://127.0.0.1:9: ", 1)[1]]
    assert "Connection refused" in errors[0] and "object at 0x" not in errors[0]
    assert (f"Next: check that the cluster is up and reachable from this machine (VPN, bastion, proxy) and that "
            f"kube.kubeconfig / kube.context in {path} name it") in run.output
    assert "Traceback" not in run.output and run.output.count("Connection refused") == 1
    assert len(run.output.splitlines()) < 10, run.output
    assert sb.helm_calls()[calls_before:] == []


def _secret_refs(data):
    refs = []
    if isinstance(data, dict):
        for value in data.values():
            refs += _secret_refs(value)
    elif isinstance(data, list):
        for value in data:
            refs += _secret_refs(value)
    elif isinstance(data, str) and data.startswith("${") and data.endswith("}"):
        refs.append(data)
    return refs


def test_xwiki_checkpoint_fails_with_the_guides_instructions(sandbox08):
    """Before the operator's XWiki work (here: the framework is still 0.8, so the sandbox's simulated
    operator has not done it), step 15 stops at the checkpoint and prints what to do."""
    sb, base = sandbox08
    writes_before = len(sb.writes())
    run = run_suite(base, "suites/upgrade/test_15_wiki_service.py", "--env", str(sb.env_file),
                    "--allow-upgrade-in-ci", "--lang", "zh")
    assert run.exit_code == 1
    outcomes = run.outcomes()
    assert outcomes["suites/upgrade/test_15_wiki_service.py::test_xwiki_manual_steps"] == "failed"
    assert outcomes["suites/upgrade/test_15_wiki_service.py::test_upgrade"].startswith("skipped: blocked by step 15")
    gateway = sb.env_data()["gateway_url"]
    assert f"oidc.endpoint.logout={gateway}/oauth/logout" in run.output  # the guide's step, with this gateway
    assert "Choerodon-wiki-0.9.0-update.rar" in run.output and "重启XWiki" in run.output
    xwiki = sb.env_data()["xwiki"]  # the env's host and data dir, not the guide's /data/data
    assert f"在XWiki所在主机 {xwiki['host']} 的数据目录 {xwiki['data_dir']} 下" in run.output
    assert f"编辑 {xwiki['data_dir']}/xwiki.properties" in run.output and "/data/data/" not in run.output
    assert "what to do (the guide's XWiki steps)" in attachment_names(run)
    assert len(sb.writes()) == writes_before
