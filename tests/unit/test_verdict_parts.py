"""The parts behind an honest verdict: the dry run's settled observation, a wait's reason naming the
pods, the collection guards, the lock's age, the run's log, report statuses and picking a run to share."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from c7n_upgrade import probes, rollout, share
from c7n_upgrade.probes import Health
from c7n_upgrade.kube.lock import lock_age, lock_text
from c7n_upgrade.redact import Redactor
from c7n_upgrade.rollout import RolloutPolicy
from c7n_upgrade.upgrade import why_not_done
from fixtures import guards, reporting
from fixtures.context import ROOT, SUITES
from fixtures.run_files import RunLog
from tests.unit.fakes import DOWN, UP, FakeClock, Pod

SETTLE = dict(settle_observations=3, settle_seconds=0.6, interval=0.2)


# ---- rollout.confirm: the read-only verdict of a dry run or a resume ------------------------------
def test_confirm_needs_the_settle_window_of_done_observations():
    clock = FakeClock()
    calls = []

    def observe():
        calls.append(clock.now)
        return rollout.observe([Pod("a-1", "0.9.0")], lambda p: UP, "a", "0.9.0", 8081)

    state = rollout.confirm(observe, RolloutPolicy(timeout=60, **SETTLE), clock=clock, sleep=clock.sleep)
    assert state.done and len(calls) == 4 and calls[-1] - calls[0] >= 0.6


def test_confirm_fails_at_the_first_observation_that_is_not_done_without_waiting():
    clock = FakeClock()
    answers = iter([UP, DOWN, UP, UP, UP])

    def observe():
        return rollout.observe([Pod("a-1", "0.9.0")], lambda p: next(answers), "a", "0.9.0", 8081)

    with pytest.raises(rollout.RolloutNotDone) as info:
        rollout.confirm(observe, RolloutPolicy(timeout=600, **SETTLE), clock=clock, sleep=clock.sleep)
    assert info.value.last.not_up == {"a-1": "DOWN"} and sum(clock.sleeps) < 1


def test_the_reason_a_rollout_is_not_done_names_the_pods_and_their_last_answer():
    pods = [Pod("iam-old", "0.8.0"), Pod("iam-new", "0.9.0", ready=False)]
    state = rollout.observe(pods, lambda p: UP if p.name == "iam-old" else DOWN, "iam", "0.9.0", 8031)
    text = why_not_done(state)
    assert "old-version pod(s) left: iam-old (0.8.0)" in text and "not ready: iam-new (0.9.0, Running)" in text
    assert text.endswith("not UP: iam-new answered DOWN")
    assert "未 UP：" not in text and "未 UP: iam-new 返回" in why_not_done(state, "zh")


#: a Spring Boot 1.5 answer whose first components are UP: the cause is the fourth, its error long
SPRING_DOWN = Health("DOWN", 503, {
    "status": "DOWN",
    "diskSpace": {"status": "UP", "total": 52576092160, "free": 2345, "threshold": 10485760},
    "discoveryComposite": {"status": "UP", "discoveryClient": {"status": "UP", "services": ["a", "b", "c"] * 20}},
    "configServer": {"status": "UP", "propertySources": ["iam-service-default"]},
    "refreshScope": {"status": "DOWN", "error": "org.springframework.beans.factory.BeanCreationException: Error "
                     "creating bean with name 'dataSource'\n\tat org.springframework.beans.factory.support..."},
    "db": {"status": "DOWN", "error": "org.springframework.jdbc.CannotGetJdbcConnectionException: " + "x" * 400},
}, None, "")


def test_the_reason_names_each_down_component_and_its_error_not_the_start_of_the_body():
    pods = [Pod("iam-1", "0.9.0", ready=False, waiting=["iam: CrashLoopBackOff"], restart_count=4)]
    state = rollout.observe(pods, lambda p: SPRING_DOWN, "iam", "0.9.0", 8031)
    text = why_not_done(state)
    assert ("not UP: iam-1 answered DOWN (refreshScope DOWN: org.springframework.beans.factory."
            "BeanCreationException: Error creating bean with name 'dataSource'; db DOWN: "
            "org.springframework.jdbc.CannotGetJdbcConnectionException: xxx") in text
    assert "diskSpace" not in text and "discoveryClient" not in text and "\tat " not in text
    assert "not ready: iam-1 (0.9.0, Running, iam: CrashLoopBackOff, 4 restart(s))" in text
    assert len(text) < 600  # one screen, however long the bodies


def test_nested_and_spring_boot_2_components_are_named_by_their_path():
    boot1 = {"status": "DOWN", "discoveryComposite": {"status": "DOWN", "discoveryClient": {
        "status": "DOWN", "error": "TransportException: Cannot execute request on any known server"}}}
    assert probes.down_components(boot1) == [
        "discoveryComposite.discoveryClient DOWN: TransportException: Cannot execute request on any known server"]
    boot2 = {"status": "DOWN", "components": {"db": {"status": "DOWN", "details": {"error": "Connection refused"}},
                                              "ping": {"status": "UP"}}}
    assert probes.down_components(boot2) == ["db DOWN: Connection refused"]
    assert probes.down_components({"status": "DOWN"}) == []
    assert probes.health_cause(Health("UNREACHABLE", error="connection refused")) == "UNREACHABLE [connection refused]"


# ---- guards -----------------------------------------------------------------------------------
def _config(*args, cwd=ROOT):
    return SimpleNamespace(args=list(args), invocation_params=SimpleNamespace(dir=Path(cwd)))


class _Item:
    def __init__(self, relative: str, step=None):
        self.path = SUITES / relative
        self.nodeid = f"suites/{relative}::test_x"
        self._step = SimpleNamespace(args=(step,)) if step else None

    def get_closest_marker(self, name):
        return self._step if name == "step" else None


def test_named_phases_follow_the_paths_as_typed():
    assert guards.named_phases(_config("suites/post_upgrade")) == {"post_upgrade"}
    assert guards.named_phases(_config(".", cwd=SUITES / "post_upgrade")) == {"post_upgrade"}
    assert guards.named_phases(_config("post_upgrade/test_01_releases.py::test_x", cwd=SUITES)) == {"post_upgrade"}
    assert guards.named_phases(_config("suites/")) == {"pre_upgrade", "upgrade", "post_upgrade"}


def test_a_collection_with_a_phase_the_command_did_not_name_is_refused():
    named = {"post_upgrade"}
    guards.check_collected([_Item("post_upgrade/test_01_releases.py")], named)
    with pytest.raises(pytest.UsageError, match="would run the upgrade phase, but the command names only post_upgrade"):
        guards.check_collected([_Item("post_upgrade/test_01_releases.py"),
                                _Item("upgrade/test_04_iam_service.py", step=4)], named)
    with pytest.raises(pytest.UsageError, match="upgrade-step tests outside suites/upgrade"):
        guards.check_collected([_Item("post_upgrade/test_99_mine.py", step=4)], named)


def test_the_suite_never_shares_a_session_with_other_tests():
    guards.check_paths(_config("suites/post_upgrade", "suites/upgrade/test_01_register_server.py"))
    guards.check_paths(_config("tests/unit"))
    with pytest.raises(pytest.UsageError, match="holds both the suite"):
        guards.check_paths(_config("."))
    with pytest.raises(pytest.UsageError, match="names suites/post_upgrade and tests/unit"):
        guards.check_paths(_config("suites/post_upgrade", "tests/unit"))


def test_the_lock_says_whose_it_is_and_how_old():
    import datetime as dt

    holder = SimpleNamespace(namespace="ns", name="c7n-upgrade-lock", owner="alice@b2:42", host="b2", pid="42",
                             since="2026-11-26T01:00:00Z")
    now = dt.datetime(2026, 11, 27, 4, 5, tzinfo=dt.timezone.utc)
    assert lock_text(holder, now) == ("ConfigMap ns/c7n-upgrade-lock, owner alice@b2:42 on host b2 (pid 42), "
                                             "since 2026-11-26T01:00:00Z (1d 3h 5m ago)")
    assert lock_age("not a time") == ""


# ---- the run's files --------------------------------------------------------------------------
def test_the_run_log_is_private_redacted_and_without_colour_codes(tmp_path):
    log = RunLog(tmp_path / "run.log", Redactor(["s3cr3t-value"]))
    log.write("\x1b[31mFAILED\x1b[0m password s3cr3t-value\npartial ")
    log.write("line\n")
    log.close()
    assert (tmp_path / "run.log").read_text() == "FAILED password ******\npartial line\n"
    assert stat.S_IMODE(os.stat(tmp_path / "run.log").st_mode) == 0o600


def test_the_terminal_masks_what_the_run_log_masks(tmp_path):
    import io

    from fixtures.run_files import _Tee

    terminal = io.StringIO()
    log = RunLog(tmp_path / "run.log", Redactor(["devops-prod-pw"]))
    tee = _Tee(terminal, log)
    tee.write("==== Choerodon 0.8 -> 0.9 (env devops-prod-pw, namespace x) ====\n")  # a title nobody redacted
    tee.write("token devops-prod-pw\n")
    log.close()
    assert terminal.getvalue() == (tmp_path / "run.log").read_text()
    assert "devops-prod-pw" not in terminal.getvalue() and terminal.getvalue().count("******") == 2


def test_blocked_results_count_against_the_run_but_choices_stay_skipped(tmp_path):
    def result(name, message):
        (tmp_path / f"{name}-result.json").write_text(json.dumps(
            {"name": name, "status": "skipped", "statusDetails": {"message": message}}))

    result("blocked", "Skipped: blocked by step 4 (iam-service not rolled out)")
    result("ci", "Skipped: CI=true: the upgrade phase does not run in CI")
    result("dry", "Skipped: dry run: no rollout to wait for")
    result("stopped", "Skipped: not run: the cluster became unreachable: connection refused")
    result("stoppedzh", "Skipped: 未运行：集群变得无法访问：connection refused")  # --lang zh
    result("cizh", "Skipped: 未运行：升级阶段未运行（CI=true 且未指定 --allow-upgrade-in-ci）")
    assert reporting.honest_statuses(tmp_path) == 3
    status = {p.name.split("-")[0]: json.loads(p.read_text())["status"] for p in tmp_path.iterdir()}
    assert status == {"blocked": "broken", "ci": "skipped", "dry": "skipped", "stopped": "broken",
                      "stoppedzh": "broken", "cizh": "skipped"}
    blocked = json.loads((tmp_path / "blocked-result.json").read_text())
    assert blocked["statusDetails"]["message"].startswith("blocked by step 4")


# ---- share: which run, and its name -----------------------------------------------------------
def _run_dir(runs: Path, name: str, outcome: str | None = None) -> Path:
    results = runs / name / "allure-results"
    results.mkdir(parents=True)
    if outcome:
        (results / "a-result.json").write_text("{}")
        (results / "environment.properties").write_text(
            f"env=prod\nplan=0.8-to-0.9\nplan.title=Choerodon 0.8 → 0.9\noutcome={outcome}\n")
    return runs / name


def test_share_picks_the_latest_run_with_results_or_the_one_named(tmp_path):
    older = _run_dir(tmp_path, "20261130T080000Z-prod", "FAILED at step 11 (devops-service)")
    newer = _run_dir(tmp_path, "20261130T090000Z-prod", "UPGRADED: all 16 steps done and observed")
    _run_dir(tmp_path, "20261130T100000Z-prod")  # stopped before any test: no results
    assert share.pick_run(tmp_path, None) == newer
    assert share.pick_run(tmp_path, older.name) == older
    assert share.pick_run(tmp_path, str(older)) == older
    with pytest.raises(share.ShareError, match="no run 'nope'"):
        share.pick_run(tmp_path, "nope")
    with pytest.raises(share.ShareError, match="no Allure results"):
        share.pick_run(tmp_path / "empty", None)
    name = share.report_name(share.properties(older / "allure-results"))
    assert name == "Choerodon 0.8 → 0.9 (prod): FAILED at step 11 (devops-service)"
    assert share.report_name({}) == share.REPORT_NAME


# ---- MariaDB, only when a sandbox starts --------------------------------------------------------


def test_a_chinese_outcome_survives_environment_properties(tmp_path):
    """Java properties files are ISO-8859-1 unless read otherwise: the outcome goes in as \\uXXXX escapes
    and share reads it back as it was."""
    headline = "失败于步骤 4（iam-service）"
    (tmp_path / "environment.properties").write_text(
        f"env=prod\nplan.title=Choerodon 0.8 → 0.9\noutcome={reporting._prop(headline)}\n", encoding="utf-8")
    assert "\\u5931" in (tmp_path / "environment.properties").read_text()
    assert share.report_name(share.properties(tmp_path)) == f"Choerodon 0.8 → 0.9 (prod): {headline}"
