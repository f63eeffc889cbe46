"""An installed suite has no c7n_sandbox (pyproject ships c7n_upgrade and fixtures only): a run against a
real cluster must not need it. The suite runs here with the package made unimportable."""
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.sandbox
ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("import sys; sys.modules['c7n_sandbox'] = None; import pytest; "
           "sys.exit(pytest.main(sys.argv[1:]))")


def _run(*args: str, env_extra: dict) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8", **env_extra}
    return subprocess.run([sys.executable, "-c", BLOCKED, *args, "-p", "no:cacheprovider"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_real_clusters_run_needs_no_sandbox_package(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"  # a cluster nothing listens for: the run stops up front, as it should
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n"
                          "    server: https://127.0.0.1:9\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n"
                          "users:\n- name: u\n  user: {token: t}\n")
    run = _run("suites/post_upgrade", "--env", "prod", f"--runs-dir={tmp_path / 'runs'}",
               env_extra={"KUBECONFIG": str(kubeconfig), **{k: "Xq7-secret-value-1" for k in (
                   "C7N_MYSQL_PASSWORD", "C7N_ADMIN_PASSWORD", "C7N_OAUTH_CLIENT_SECRET")}})
    output = run.stdout + run.stderr
    assert "c7n_sandbox" not in output, output[-3000:]
    assert run.returncode == 4 and "ERROR:" in output, output[-3000:]  # the up-front refusal, not a crash


def test_the_sandbox_env_says_it_needs_the_package():
    run = _run("suites/post_upgrade", "--env", "sandbox", env_extra={})
    assert run.returncode != 0 and "c7n_sandbox" in run.stdout + run.stderr  # what is missing is named
