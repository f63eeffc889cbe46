"""The upgrade log never claims more than it saw: a failed run, a dry run over the broken release it
left, the report of each run (both kept), a run stopped at its first failure (-x), an interrupt during
a step and the run that resumes it; the stopped and interrupted runs' reports count the whole plan.

One sandbox for the module, with two faults: iam-service (step 4) and notify-service (step 5) never
come up. The tests run in file order, each on the state the one before left.
"""
from __future__ import annotations

import json
import re
import stat
import subprocess
import sys

import pytest
import yaml

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import ROOT, _env, module_sandbox, run_suite

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with module_sandbox(tmp_path_factory, "verdicts", "--fault", "iam-service=never-up",
                        "--fault", "notify-service=never-up") as (sb, base):
        env = sb.env_with("env-fast", timeouts={"step": 12, "http": 3, "poll_max": 0.5})
        yield {"sb": sb, "env": env, "base": base, "runs": base / "runs", "done": {}}


def _run(world, *args, **kwargs):
    return run_suite(world["base"], *args, "--env", str(world["env"]), "--allow-upgrade-in-ci",
                     runs=world["runs"], **kwargs)


def _results(run) -> dict[str, dict]:
    """Allure results by their stable id."""
    out = {}
    for result in run.allure_results():
        ids = [label["value"] for label in result["labels"] if label["name"] == "as_id"]
        out[ids[0] if ids else result["name"]] = result
    return out


def _progress_states(output: str, prefix: str) -> list[str]:
    """The progress lines of one step, without their clock."""
    return [re.sub(r"\(\d+s/\d+s\)", "", line) for line in output.splitlines() if line.startswith(prefix)]


def test_a_failed_run_says_where_it_stopped_names_the_down_pod_and_keeps_its_results(world):
    sb = world["sb"]
    run = _run(world, "suites/")
    world["done"]["failed"] = run
    world["done"]["failed_results"] = sorted(p.name for p in run.alluredir.iterdir())
    assert run.exit_code == 1
    flat = run.flat_output()
    assert "Outcome: FAILED at step 4 (iam-service)" in flat
    # the failure names the new pod, its state, the DOWN component and its error (the cause, not the start of
    # the body), and keeps the end of the reason (wrapped, not cut)
    assert re.search(r"\[04\] iam-service FAILED: iam-service not rolled out to 0\.9\.0 after 12s: .*"
                     r"health UP on 1/2 pod\(s\); not ready: iam-service-\S+ \(0\.9\.0, Running\); not UP: "
                     r"iam-service-\S+ answered DOWN \(refreshScope DOWN: org\.springframework\.beans\.factory\."
                     r"BeanCreationException: Error creating bean with name 'dataSource'", flat), flat[-3000:]
    assert "During handling of the above exception" not in run.output
    # progress: each line says something new (the DOWN pod named), no screen of copies
    states = _progress_states(run.output, "[04/16] iam-service:")
    assert states and re.search(r"not UP: iam-service-\S+ \(DOWN\)", states[-1]), states
    assert all(a != b for a, b in zip(states, states[1:])), states
    for step in PLAN.steps[4:]:
        assert f"[{step.number:02d}] {step.release} blocked by step 4" in flat
    assert ("Next: fix step 4 (iam-service): the reason is above, and this run's report holds the step's "
            "attachments") in flat and "it resumes at step 4." in flat
    assert "use the share command below." in flat
    assert f"  $ ./run python -m c7n_upgrade.share --run {run.run_dir.name}" in run.output.splitlines()

    # the run's own directory: results, log, outcome, the values backup
    assert run.run_dir.parent == world["runs"] and stat.S_IMODE(run.run_dir.stat().st_mode) == 0o700
    assert run.outcome()["outcome"] == "failed" and run.outcome()["step"] == 4
    assert run.outcome()["env"] == "sandbox" and run.run_dir.name.endswith("Z-sandbox")  # one trend for all
    assert "Outcome: FAILED at step 4 (iam-service)" in " ".join((run.run_dir / "run.log").read_text().split())
    values = sorted((run.run_dir / "values").iterdir())
    assert {p.stem for p in values} == {s.release for s in PLAN.steps if s.action == "upgrade"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in values)
    assert stat.S_IMODE((run.run_dir / "values").stat().st_mode) == 0o700
    # whole, so that it restores: the private backup, never attached to the report
    backup = yaml.safe_load((run.run_dir / "values" / "gitlab-service.yaml").read_text())
    helm = subprocess.run([str(sb.dir / "bin" / "helm"), "get", "values", "gitlab-service", "--output", "json"],
                          capture_output=True, text=True, check=True, timeout=60)
    assert backup == json.loads(helm.stdout) and backup["env"]["open"]["GITLAB_PRIVATETOKEN"]

    # the report: the outcome on its first screen, blocked steps not counted as passing, order as run
    props = (run.alluredir / "environment.properties").read_text()
    assert "outcome=FAILED at step 4 (iam-service)" in props
    results = _results(run)
    blocked = [r for r in results.values() if "blocked by step 4" in (r.get("statusDetails") or {}).get("message", "")]
    assert blocked and {r["status"] for r in blocked} == {"broken"}
    assert results["upgrade.04-iam-service.test_upgrade"]["name"] == "[04.1] Upgrade iam-service 0.8.0 → 0.9.0"
    assert results["upgrade.04-iam-service.test_rollout"]["name"].startswith("[04.2] Wait for iam-service")
    features = {label["value"] for r in results.values() for label in r["labels"] if label["name"] == "feature"}
    assert features == {"1 pre-upgrade", "2 upgrade", "3 post-upgrade"}


def test_a_dry_run_over_the_broken_release_fails_naming_the_pod(world):
    sb = world["sb"]
    writes = len(sb.writes())
    run = _run(world, "suites/", "--dry-run")
    world["done"]["dry"] = run
    assert run.exit_code == 1, run.output[-3000:]
    assert len(sb.writes()) == writes, "a dry run wrote with helm"
    flat = run.flat_output()
    assert "Outcome: DRY RUN FAILED at step 4 (iam-service): nothing changed" in flat
    assert re.search(r"\[04\] iam-service FAILED: iam-service at 0\.9\.0 is not healthy now: .*old-version pod\(s\) "
                     r"left: iam-service-\S+ \(0\.8\.0\).*not UP: iam-service-\S+ answered", flat), flat[-3000:]
    assert "helm was already at target" not in flat and "pods waited for" not in flat
    # every release observed, not blocked: the ones before it at target, the ones after it as they run
    assert "[03] manager-service dry run: already at 0.9.0; 1 pod(s) observed Ready and UP on 0.9.0" in flat
    assert "[07] api-gateway dry run: would upgrade 0.8.0 → 0.9.0; now 1 pod(s) observed Ready and UP on 0.8.0" in flat
    assert "[05] notify-service dry run: would install 0.9.0; not installed now" in flat
    # two runs in a row: both keep their results
    first = world["done"]["failed"]
    assert run.run_dir != first.run_dir and run.run_dir.parent == first.run_dir.parent
    assert sorted(p.name for p in first.alluredir.iterdir()) == world["done"]["failed_results"]


def test_share_builds_the_latest_suite_run_named_after_its_outcome(world):
    """The project's own tests write no run; `share` builds the suite's latest run, or the one named."""
    from tests.ops.test_share import _embedded

    runs = world["runs"]
    before = sorted(runs.iterdir())
    project = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/unit/test_run_dir.py"], cwd=ROOT,
                             env=_env({"C7N_RUNS_DIR": str(runs)}), capture_output=True, text=True, timeout=120)
    assert project.returncode == 0, project.stdout[-2000:]
    assert sorted(runs.iterdir()) == before, "the project's own tests wrote a run"

    def share(*args):
        proc = subprocess.run([sys.executable, "-m", "c7n_upgrade.share", "--runs-dir", str(runs), *args], cwd=ROOT,
                              env=_env(), capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.fail("c7n_upgrade.share failed (npm registry or Java unavailable?):\n" + proc.stderr[-3000:],
                        pytrace=False)
        return proc, proc.stdout.strip().splitlines()[-1]

    dry, failed = world["done"]["dry"], world["done"]["failed"]
    env_name = dry.outcome()["env"]
    proc, path = share()  # the latest suite run: the dry run
    assert path == str(dry.run_dir / "upgrade-report.html")
    summary = _embedded(open(path, encoding="utf-8").read(), "widgets/summary.json")
    assert summary["reportName"] == f"Choerodon 0.8 → 0.9 ({env_name}): DRY RUN FAILED at step 4 (iam-service): " \
                                    "nothing changed"
    assert (runs.parent / "history" / env_name / "history-trend.json").is_file()
    assert (runs.parent / "upgrade-report.html").read_text() == open(path, encoding="utf-8").read()

    _, path = share("--run", failed.run_dir.name)
    summary = _embedded(open(path, encoding="utf-8").read(), "widgets/summary.json")
    assert summary["reportName"] == f"Choerodon 0.8 → 0.9 ({env_name}): FAILED at step 4 (iam-service)"
    stat_ = summary["statistic"]
    assert stat_["broken"] >= 12 * 2 and stat_["failed"] == 1  # the blocked steps' tests are not "skipped"
    assert stat_["passed"] / (stat_["passed"] + stat_["failed"] + stat_["broken"]) < 0.8  # Allure 2's percentage


def test_a_run_stopped_at_its_first_failure_still_reports_every_test(world):
    """-x: pytest stops at step 4's failure and starts no other test; the report still holds the whole
    plan (the same tests as the full failed run's), the rest "broken" as not run, post-upgrade included."""
    run = _run(world, "suites/", "-x")
    assert run.exit_code == 1, run.output[-3000:]
    assert "stopping after 1 failures" in run.output
    results, full = _results(run), _results(world["done"]["failed"])
    assert len(run.allure_results()) == len(full) and sorted(results) == sorted(full)
    not_run = {key for key, r in results.items()
               if (r.get("statusDetails") or {}).get("message") == "not run: FAILED at step 4 (iam-service)"}
    assert {key for key in full if key.startswith("post_upgrade.")} < not_run
    assert "upgrade.05-notify-service.test_upgrade" in not_run
    assert {results[key]["status"] for key in not_run} == {"broken"}


def _comparable(result: dict) -> dict:
    """What a test's result shows besides its outcome (the thread label holds the run's pid)."""
    return {"name": result["name"], "fullName": result["fullName"], "historyId": result["historyId"],
            "testCaseId": result["testCaseId"], "links": result.get("links", []),
            "labels": sorted((label["name"], label["value"]) for label in result["labels"]
                             if label["name"] != "thread")}


def _check_the_report_counts_the_whole_plan(run, full_run) -> None:
    """The interrupted run's report holds every test the full run's does, with the same ids, labels and
    names; those that never started are "broken" and say why, the post-upgrade proof included."""
    results, full = _results(run), _results(full_run)
    assert len(run.allure_results()) == len(full_run.allure_results()) == len(full)
    assert sorted(results) == sorted(full)
    for key, result in results.items():
        assert _comparable(result) == _comparable(full[key]), key
    interrupted = results["upgrade.05-notify-service.test_rollout"]
    assert interrupted["status"] == "broken"
    assert interrupted["statusDetails"]["message"] == ("interrupted: INTERRUPTED at step 5 (notify-service), "
                                                       "while waiting for its pods (helm had finished)")
    not_run = {key for key, r in results.items() if (r.get("statusDetails") or {}).get("message")
               == "not run: INTERRUPTED at step 5 (notify-service)"}
    later = {key for key, r in results.items() if any(label == {"name": "feature", "value": "3 post-upgrade"}
                                                      for label in r["labels"]) or any(
        label["name"] == "step" and int(label["value"][:2]) > 5 for label in r["labels"])}
    assert later and not_run == later, sorted(later ^ not_run)
    assert {results[key]["status"] for key in not_run} == {"broken"}
    assert any(key.startswith("post_upgrade.") for key in not_run)


def test_an_interrupt_during_a_step_is_reported_as_interrupted_and_the_next_run_resumes_it(world):
    sb = world["sb"]
    sb.fault("--clear", "iam-service")
    run = _run(world, "suites/", interrupt_on="[05/16] notify-service:")
    assert run.exit_code == 2, run.output[-3000:]
    flat = run.flat_output()
    assert "Outcome: INTERRUPTED at step 5 (notify-service)" in flat
    # iam-service came up once its fault was cleared: observed, it passes without a helm call
    assert re.search(r"\[04\] iam-service (already upgraded|resumed): .*1 pod\(s\) observed Ready and UP", flat)
    assert "[05] notify-service INTERRUPTED while waiting for its pods (helm had finished)" in flat
    for step in PLAN.steps[5:]:
        assert f"[{step.number:02d}] {step.release} not run" in flat
    assert "Next: the run was interrupted during step 5 (notify-service)" in flat and "resumes at step 5" in flat
    helm, kube = sb.dir / "bin" / "helm", sb.dir / "kubeconfig"
    for verb in ("status", "history"):
        assert (f"  $ {helm} {verb} notify-service --kube-context sandbox --kubeconfig {kube} "
                f"--tiller-namespace kube-system") in run.output.splitlines()
    # the same in the run's log and outcome; the report does not call the interrupted test passed
    assert "[05] notify-service INTERRUPTED" in " ".join((run.run_dir / "run.log").read_text().split())
    outcome = run.outcome()
    assert (outcome["outcome"], outcome["step"], outcome["release"]) == ("interrupted", 5, "notify-service")
    _check_the_report_counts_the_whole_plan(run, world["done"]["failed"])

    # fixed, the same command resumes at step 5: no second install, the pods waited for
    sb.fault("--clear", "notify-service")
    installs = [a for a in sb.writes() if a[0] == "install" and "notify-service" in a]
    assert len(installs) == 1
    again = _run(world, *[f"suites/upgrade/{m}" for m in ("test_01_register_server.py", "test_02_config_server.py",
                                                          "test_03_manager_service.py", "test_04_iam_service.py",
                                                          "test_05_notify_service.py")])
    assert again.exit_code == 0, again.output[-3000:]
    assert [a for a in sb.writes() if a[0] == "install" and "notify-service" in a] == installs
    assert re.search(r"\[05\] notify-service (already upgraded|resumed): .*1 pod\(s\) observed Ready and UP",
                     again.flat_output()), again.output[-3000:]
    assert json.loads((again.run_dir / "outcome.json").read_text())["outcome"] == "partial"
