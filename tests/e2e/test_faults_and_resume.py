"""Every sandbox fault kind, mid-plan: the run stops at that step, blocks the later ones, makes no
later helm write or SQL; clearing the fault and re-running resumes where it stopped.

One sandbox carries all the faults, at increasing steps (both on the real control plane: one with the
real Helm 2 and Tiller, one with the real Helm 3); each test clears the fault it saw, so the
next run goes one fault further. Each test depends on the previous ones (they run in file order).
"""
from __future__ import annotations

import re

import pytest

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import ObservedSandbox, assert_blocked_after, attachment_names, released, run_suite

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")
FAULTS = [
    "config-server=helm-fail",        # step 2
    "manager-service=leftover-jobs",  # step 3 (passes: the suite clears the Jobs)
    "iam-service=never-up",           # step 4
    "api-gateway=db-down",            # step 7 (MySQL refuses from its helm call on)
    "gateway-helper=slow-start:3",    # step 8 (passes after waiting)
    "oauth-server=flap",              # step 9
    "gitlab-service=wrong-version",   # step 12
]


@pytest.fixture(scope="module", params=["real-helm2", "real"])
def chain(request, tmp_path_factory):
    """The chain's sandbox: the real control plane with the real Helm 2 and Tiller, and with the real Helm 3."""
    base = tmp_path_factory.mktemp(f"faults-{request.param}")
    args = [a for f in FAULTS for a in ("--fault", f)]
    args += ["--helm", "2" if request.param == "real-helm2" else "3"]
    with ObservedSandbox(base / "sandbox", *args) as sb:
        # a short step timeout: faults that never resolve fail in seconds, not minutes
        env = sb.env_with("env-fast", timeouts={"step": 12, "http": 3, "poll_max": 0.5})
        yield sb, env, base


def _run(chain):
    """A run of the chain; all of them keep their results side by side, as an operator's runs do."""
    sb, env, base = chain
    return run_suite(base, "suites/", "--env", str(env), "--allow-upgrade-in-ci", runs=base / "runs")


FIRST_RUN: dict = {}  # sandbox dir -> the chain's first run, whose backup was taken before anything changed


def test_helm_fail_stops_at_step_2(chain):
    sb, _env, _ = chain
    run = _run(chain)
    assert run.exit_code == 1
    assert run.by_test("test_02_config_server.py::test_upgrade") == {
        "suites/upgrade/test_02_config_server.py::test_upgrade": "failed"}
    assert "helm failed for config-server" in run.output
    # helm's answer ended the step: its revision is failed (Tiller's record), and no rollout was waited for
    assert "Outcome: FAILED at step 2 (config-server)" in run.flat_output()
    if sb.env_data()["helm"].get("dialect") == 3:  # a real Helm 3: its Secrets in the namespace
        _, records = sb.api(f"/api/v1/namespaces/{PLAN.namespace}/secrets"
                            "?labelSelector=owner%3Dhelm,name%3Dconfig-server")
        assert sorted(c["metadata"]["labels"]["status"] for c in records["items"]) == ["deployed", "failed"]
    else:
        _, records = sb.api("/api/v1/namespaces/kube-system/configmaps?labelSelector=NAME%3Dconfig-server")
        assert sorted(c["metadata"]["labels"]["STATUS"] for c in records["items"]) == ["DEPLOYED", "FAILED"]
    assert "[02/16] config-server:" not in run.output
    assert_blocked_after(run, 2)
    assert [released(a) for a in sb.writes()] == ["register-server", "config-server"]
    assert "notify_service" not in sb.databases()
    assert f"database backup (before the first write): {run.run_dir / 'db-backup'}" in run.flat_output()
    FIRST_RUN[sb.dir] = run
    sb.fault("--clear", "config-server")


def test_never_up_stops_at_step_4_after_clearing_leftover_jobs(chain):
    sb, _env, _ = chain
    run = _run(chain)
    assert run.exit_code == 1
    outcomes = run.outcomes()
    assert outcomes["suites/upgrade/test_03_manager_service.py::test_upgrade"] == "passed"
    assert outcomes["suites/upgrade/test_04_iam_service.py::test_rollout"] == "failed"
    assert "removed finished hook Jobs manager-service-init-db" in run.output
    assert "iam-service not rolled out to 0.9.0" in run.output
    # the timeout attached what an operator needs
    names = attachment_names(run)
    assert {"pods iam-service", "recent events", "last health bodies iam-service"} <= names
    assert any(n.startswith("log tail iam-service-") for n in names)
    assert_blocked_after(run, 4)
    assert [released(a) for a in sb.writes()] == ["register-server", "config-server", "config-server",
                                                   "manager-service", "iam-service"]
    # a resumed run dumps again, after step 1 had migrated its databases: the summary says so, and points
    # back to the first run's dump, the one from before anything changed
    flat = run.flat_output()
    first = FIRST_RUN[sb.dir]
    assert (f"database backup of this resumed run, taken after step 1: the databases of the steps done so far may "
            f"already be migrated: {run.run_dir / 'db-backup'}") in flat
    assert re.search(rf"database backup from before the upgrade began \(run {first.run_dir.name}, "
                     r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ;", flat), flat[-3000:]
    assert f"SHA256SUMS inside): {first.run_dir / 'db-backup'}" in flat
    assert run.outcome()["kept"][next(k for k in run.outcome()["kept"] if k.startswith("database backup from"))] \
        == str(first.run_dir / "db-backup")
    sb.fault("--clear", "iam-service")



def test_resume_after_never_up_then_db_down_stops_at_step_7(chain):
    sb, _env, _ = chain
    run = _run(chain)
    assert run.exit_code == 1
    outcomes = run.outcomes()
    # register..manager pass as already upgraded; iam resumes without a second helm upgrade
    assert outcomes["suites/upgrade/test_04_iam_service.py::test_rollout"] == "passed"
    assert [released(a) for a in sb.writes()].count("iam-service") == 1
    assert outcomes["suites/upgrade/test_05_notify_service.py::test_database"] == "passed"
    assert outcomes["suites/upgrade/test_07_api_gateway.py::test_rollout"] == "failed"
    assert "api-gateway not rolled out" in run.output
    assert_blocked_after(run, 7)
    assert "gateway-helper" not in [released(a) for a in sb.writes()]
    sb.fault("--clear", "api-gateway")


def test_slow_start_waits_and_flap_fails_at_step_9(chain):
    sb, _env, _ = chain
    run = _run(chain)
    assert run.exit_code == 1
    outcomes = run.outcomes()
    assert outcomes["suites/upgrade/test_07_api_gateway.py::test_rollout"] == "passed"
    assert {"notify_service", "asgard_service"} <= sb.databases()  # MySQL answers again
    assert outcomes["suites/upgrade/test_08_gateway_helper.py::test_rollout"] == "passed"
    assert "[08/16] gateway-helper: 1/2 pods ready" in run.output  # it waited for the slow pod
    assert outcomes["suites/upgrade/test_09_oauth_server.py::test_rollout"] == "failed"
    assert_blocked_after(run, 9)
    assert "file-service" not in [released(a) for a in sb.writes()]
    sb.fault("--clear", "oauth-server")


def test_wrong_version_fails_at_step_12_with_the_old_label_named(chain):
    sb, _env, _ = chain
    run = _run(chain)
    assert run.exit_code == 1
    outcomes = run.outcomes()
    assert outcomes["suites/upgrade/test_11_devops_service.py::test_smooth_upgrade"] == "passed"
    assert outcomes["suites/upgrade/test_12_gitlab_service.py::test_rollout"] == "failed"
    assert "gitlab-service not rolled out to 0.9.1" in run.output and "(0.8.0)" in run.output
    assert_blocked_after(run, 12)
    assert [released(a) for a in sb.writes()][-1] == "gitlab-service"
    # a fault-free run's post-upgrade checks were blocked, not run against a half-upgraded cluster
    post = {k: v for k, v in outcomes.items() if "post_upgrade" in k}
    assert post and all(v.startswith("skipped: blocked by step 12") for v in post.values())
