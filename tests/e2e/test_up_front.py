"""One cause, one message, and paths that mean what the user typed: a missing kubeconfig, the CI guard
over the whole suite (in Chinese), running from a subdirectory, and mixing the suite with the project's
tests. One sandbox left at 0.8; nothing here upgrades it. (The held lock and the unreachable cluster
are in test_guards.py, on its sandbox.)"""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.harness import ROOT, _env, module_sandbox, run_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox08(tmp_path_factory):
    with module_sandbox(tmp_path_factory, "upfront") as pair:
        yield pair


def test_a_missing_kubeconfig_stops_the_run_with_one_message_in_the_runs_language(sandbox08):
    sb, base = sandbox08
    missing = base / "no-such-kubeconfig"
    env = sb.env_with("env-no-kubeconfig", kube={"kubeconfig": str(missing), "context": "sandbox"})
    run = run_suite(base, "suites/", "--env", str(env), "--allow-upgrade-in-ci", "--lang", "zh")
    assert run.exit_code == 4
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert errors == [f"ERROR: {env}: kube.kubeconfig {missing} does not exist"]
    assert (f"下一步：将 {env} 中的 kube.kubeconfig（及 kube.context）指向集群的 kubeconfig，或删除 kube.kubeconfig "
            "以使用 $KUBECONFIG（其次 ~/.kube/config）；用 `kubectl get ns choerodon-devops-prod` 检查；然后重新运行。"
            "未做任何更改。") in run.output
    assert "Traceback" not in run.output and len(run.output.splitlines()) < 10, run.output
    assert sb.helm_calls() == []
    assert run.outcome()["outcome"] == "stopped"  # the run's directory keeps why it stopped


def test_the_ci_guard_skips_the_upgrade_and_the_proof_with_one_cause(sandbox08):
    """CI=true over the whole suite: not 22 post-upgrade failures, but the upgrade phase named as not run;
    the summary, its Next line and the report's titles in Chinese (--lang zh)."""
    sb, base = sandbox08
    run = run_suite(base, "suites/", "--env", str(sb.env_file), "--lang", "zh", ci=True)
    assert run.exit_code == 0, run.output[-3000:]
    assert sb.writes() == []
    outcomes = run.outcomes()
    post = {k: v for k, v in outcomes.items() if "suites/post_upgrade" in k}
    assert post and all(v.startswith("skipped: 未运行：升级阶段未运行（CI=true") for v in post.values()), post
    assert not [k for k, v in outcomes.items() if v == "failed"]
    flat = run.flat_output()
    assert run.output.count("CI=true：升级阶段不会运行") == 1  # said once, up front
    assert "结果：未升级：CI=true 且未指定 --allow-upgrade-in-ci，升级阶段未运行" in flat
    assert (f"下一步：CI=true，升级阶段未运行。要在 CI 中升级，请加 --allow-upgrade-in-ci；只做只读验证，请运行 "
            f"`pytest suites/post_upgrade --env {sb.env_file}`。") in flat
    assert "[04] iam-service 未运行（CI=true）" in flat
    titles = {r["name"] for r in run.allure_results()}
    assert "Kubernetes API 可访问，记录其版本" in titles and "[04.1] 升级 iam-service 0.8.0 → 0.9.0" in titles
    features = {label["value"] for r in run.allure_results() for label in r["labels"] if label["name"] == "feature"}
    assert features == {"1 升级前检查", "2 升级", "3 升级后验证"}


def _collect(cwd, *args, runs):
    """`./run pytest ARGS --collect-only -q` from `cwd`, as an operator types it there."""
    proc = subprocess.run([str(ROOT / "run"), "pytest", *args, "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=cwd, env=_env({"C7N_RUNS_DIR": str(runs)}), capture_output=True, text=True,
                          timeout=300)
    return proc, [line for line in proc.stdout.splitlines() if "::" in line]


def test_paths_mean_what_the_user_typed(sandbox08):
    sb, base = sandbox08
    runs = base / "runs-paths"
    env = ["--env", str(sb.env_file)]
    root_proc, from_root = _collect(ROOT, "suites/post_upgrade", *env, runs=runs)
    assert root_proc.returncode == 0, root_proc.stderr[-2000:]
    assert from_root and all(line.startswith("suites/post_upgrade/") for line in from_root)

    # `.` in suites/post_upgrade is that directory, not the repo root
    proc, ids = _collect(ROOT / "suites" / "post_upgrade", ".", *env, runs=runs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(ids) == len(from_root) and not [i for i in ids if "upgrade/test_" in i.replace("post_upgrade", "")]
    # a relative path from suites/ is found there
    proc, ids = _collect(ROOT / "suites", "post_upgrade", *env, runs=runs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(ids) == len(from_root)


def test_the_suite_and_the_projects_tests_never_share_a_session(sandbox08):
    sb, base = sandbox08
    runs = base / "runs-mix"
    env = ["--env", str(sb.env_file)]
    for cwd, args in ((ROOT, ["suites/post_upgrade", "tests/unit/test_run_dir.py", *env]), (ROOT, [".", *env])):
        proc, ids = _collect(cwd, *args, runs=runs)
        assert proc.returncode == 4 and ids == []
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
        assert len(errors) == 1 and "one pytest session runs either the upgrade suite (paths under suites/) or " \
                                    "the project's own tests (tests/), not both" in errors[0]
        assert "Next: " in proc.stderr
    assert not runs.exists() or not os.listdir(runs)  # refused before a run began


def test_a_failed_run_of_a_fresh_sandbox_does_not_promise_a_resume(tmp_path):
    """`--env sandbox` starts a sandbox for the run and stops it after: its Next line says how to
    rehearse a resume instead of "re-run the same command" (which would start a fresh 0.8 one)."""
    run = run_suite(tmp_path, "suites/upgrade/test_01_register_server.py", "--env", "sandbox",
                    "--sandbox-fault", "register-server=helm-fail", "--sandbox-dir", str(tmp_path / "sb"),
                    "--allow-upgrade-in-ci")
    assert run.exit_code == 1, run.output[-3000:]
    flat = run.flat_output()
    assert "Outcome: FAILED at step 1 (register-server)" in flat
    assert ("Next: this run's sandbox was started for it and is stopped now, so the same command would start a "
            "fresh 0.8 sandbox, not resume (step 1 failed on the fault you injected: register-server=helm-fail).") in flat
    assert "`./run python -m c7n_sandbox up --dir D [--fault R=KIND]`" in flat
    assert "re-run the same command" not in flat


def test_run_installs_nothing_for_a_command_that_starts_no_sandbox(tmp_path):
    """`./run` sets up the venv only; the sandbox's MariaDB is seen to when a sandbox starts."""
    proc = subprocess.run([str(ROOT / "run"), "python", "-c", "import os; print(os.getcwd())"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path)  # and in the caller's directory
    assert "mariadb" not in (proc.stdout + proc.stderr).lower()


def test_the_proof_on_a_cluster_never_upgraded_says_so_once(sandbox08):
    """suites/post_upgrade on the 0.8 sandbox: one failure naming why (no release at its target), the rest
    not run; no traceback, no failure per check."""
    sb, base = sandbox08
    run = run_suite(base, "suites/post_upgrade", "--env", str(sb.env_file))
    assert run.exit_code == 1, run.output[-3000:]
    outcomes = run.outcomes()
    failed = [k for k, v in outcomes.items() if v == "failed"]
    assert len(failed) == 1, failed
    assert all(v.startswith("skipped: not run: no release of the plan 0.8-to-0.9 is at its target chart version")
               for k, v in outcomes.items() if k not in failed), outcomes
    assert "Traceback" not in run.output and "\nE   " not in run.output
    flat = run.flat_output()
    assert "the upgrade has not run on this cluster; helm lists: register-server 0.8.0" in flat
    assert "notify-service not installed" in flat
    assert run.outcome()["outcome"] == "stopped"
    assert f"Next: the read-only proof is for after the upgrade: rehearse it with `pytest suites/ --env {sb.env_file} --dry-run`" in flat
