"""`python -m c7n_upgrade.share`: Allure results -> one self-contained HTML file, with history.

These run the real Allure 2 generator (installed on demand by scripts/install-allure.sh, which
needs npm once and Java always). When either is unavailable the tests FAIL with the installer's
message: sharing the report is a feature, not an optional extra. Two generations, ~15 s in all.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from c7n_upgrade import share

ROOT = Path(__file__).resolve().parents[2]

DEMO = textwrap.dedent('''
    import allure, pytest

    @allure.feature("upgrade")
    @allure.story("register-server")
    def test_upgraded():
        with allure.step("helm upgrade register-server c7n/go-register-server --version 0.9.0"):
            allure.attach("Release \\"register-server\\" has been upgraded.", name="helm output")

    def test_health():
        assert False, "notify-service health DOWN after 600s"

    def test_blocked():
        pytest.skip("blocked by step 5 (notify-service health DOWN)")
''')

CATEGORIES = [{"name": "Service not UP", "matchedStatuses": ["failed"], "messageRegex": "(?s).*health DOWN.*"},
              {"name": "Blocked by an earlier step", "matchedStatuses": ["skipped"], "messageRegex": "(?s).*blocked by.*"}]


def _make_results(tmp_path: Path) -> Path:
    """Real allure-pytest results from a tiny run in tmp (plus the categories.json the suite writes)."""
    work = tmp_path / "demo"
    work.mkdir()
    (work / "test_demo.py").write_text(DEMO, encoding="utf-8")
    results = tmp_path / "allure-results"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
                           "--rootdir", str(work), f"--alluredir={results}", str(work / "test_demo.py")],
                          capture_output=True, text=True, timeout=60, cwd=work)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one failure, on purpose
    (results / "categories.json").write_text(json.dumps(CATEGORIES), encoding="utf-8")
    return results


def _run_share(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("C7N_ALLURE_BIN", None)
    return subprocess.run([sys.executable, "-m", "c7n_upgrade.share", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=env)


def _embedded(html: str, name: str):
    """A data file embedded in Allure 2's single-file report: d('name','<base64>')."""
    m = re.search(r"d\('" + re.escape(name) + r"','([A-Za-z0-9+/=]*)'\)", html)
    assert m, f"{name} is not embedded in the single-file report"
    return json.loads(base64.b64decode(m.group(1)))


def test_single_file_report_with_categories_and_history(tmp_path):
    results = _make_results(tmp_path)
    out = tmp_path / "out" / "upgrade-report.html"
    report_dir = tmp_path / "out" / "allure-report"
    proc = _run_share("--results", str(results), "--out", str(out), "--report-dir", str(report_dir))
    if proc.returncode != 0:
        pytest.fail("c7n_upgrade.share failed (npm registry or Java unavailable?):\n" + proc.stderr[-3000:],
                    pytrace=False)
    assert proc.stdout.strip().splitlines()[-1] == str(out.resolve())  # prints the file's path
    assert [p.name for p in out.parent.iterdir() if p.is_file()] == ["upgrade-report.html"]  # no temp left
    html = out.read_text(encoding="utf-8")

    # self-contained: every script/style/icon is inline (data: URLs), nothing fetched at open time
    external = re.findall(r'(?:src|href)="(?!data:|#)([^"]+)"', html)
    assert external == [], f"references outside the file: {external}"
    assert "googletagmanager" not in html

    summary = _embedded(html, "widgets/summary.json")
    assert summary["reportName"] == "Choerodon upgrade report"
    stat = summary["statistic"]
    assert (stat["passed"], stat["failed"], stat["skipped"], stat["total"]) == (1, 1, 1, 3)

    # categories.json honoured (Allure 2; Allure 3 would ignore it)
    categories = _embedded(html, "data/categories.json")
    names = {c["name"]: c for c in categories["children"]}
    assert set(names) == {"Service not UP", "Blocked by an earlier step"}

    # the browsable dir keeps history/ for the next run ...
    assert (report_dir / "history" / "history-trend.json").is_file()
    first_trend = _embedded(html, "widgets/history-trend.json")
    assert len(first_trend) == 1

    # ... and the second run's report shows two runs in the trend
    proc = _run_share("--results", str(results), "--out", str(out), "--report-dir", str(report_dir))
    assert proc.returncode == 0, proc.stderr
    assert "history: " in proc.stderr
    trend = _embedded(out.read_text(encoding="utf-8"), "widgets/history-trend.json")
    assert len(trend) == 2
    assert [t["data"]["failed"] for t in trend] == [1, 1]

    # --no-history starts the trend afresh
    proc = _run_share("--results", str(results), "--out", str(out), "--report-dir", str(report_dir), "--no-history")
    assert proc.returncode == 0, proc.stderr
    assert len(_embedded(out.read_text(encoding="utf-8"), "widgets/history-trend.json")) == 1


def test_the_outcome_is_the_first_entry_of_the_reports_environment(tmp_path):
    """The suite's environment.properties, through the real generator: Allure 2 lists the entries in
    the file's order and shows the first few before "Show all"; the outcome leads (in Chinese too)."""
    import time
    from types import SimpleNamespace

    from c7n_upgrade.redact import Redactor
    from fixtures.reporting import write_environment

    results = tmp_path / "results"
    results.mkdir()
    (results / "a-result.json").write_text(json.dumps(
        {"uuid": "a", "name": "t", "fullName": "m#t", "historyId": "h", "status": "broken", "stage": "finished",
         "start": 1, "stop": 2, "labels": []}), encoding="utf-8")
    ctx = SimpleNamespace(settings=SimpleNamespace(env_name="sandbox", namespace="choerodon-devops-prod",
                                                   http=SimpleNamespace(mode="direct")),
                          env_path=Path("env.yaml"),
                          plan=SimpleNamespace(name="0.8-to-0.9", title="Choerodon 0.8 → 0.9"),
                          started=time.time(), dry_run=False, redactor=Redactor(),
                          results=SimpleNamespace(outcome=SimpleNamespace(headline="失败于步骤 4（iam-service）")))
    write_environment(results, ctx, {"api.server": "https://127.0.0.1:6443", "helm.version": "v2.16.12",
                                     "kubernetes.version": "v1.15.0"})
    try:
        out = share.build(results, tmp_path / "r.html", None, keep_history=False)
    except share.ShareError as exc:
        pytest.fail(f"c7n_upgrade.share failed (npm registry or Java unavailable?): {exc}", pytrace=False)
    environment = _embedded(out.read_text(encoding="utf-8"), "widgets/environment.json")
    assert [(e["name"], e["values"]) for e in environment[:3]] == [
        ("outcome", ["失败于步骤 4（iam-service）"]), ("env", ["sandbox"]), ("namespace", ["choerodon-devops-prod"])]
    assert [e["name"] for e in environment[3:7]] == ["plan.title", "helm.version", "kubernetes.version",
                                                     "api.server"]  # the overview shows the first five
    assert "python" in [e["name"] for e in environment[7:]]


def test_missing_results_is_a_clear_usage_error(tmp_path):
    proc = _run_share("--results", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.html"))
    assert proc.returncode == 2
    assert "no Allure results at" in proc.stderr and "run the suite first" in proc.stderr
    assert not (tmp_path / "r.html").exists()


def test_empty_results_dir_is_refused(tmp_path):
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "categories.json").write_text("[]")
    with pytest.raises(share.ShareError, match="no Allure result files"):
        share.build(tmp_path / "res", tmp_path / "r.html", None, allure="/nonexistent/allure")


def test_stage_copies_results_and_previous_history(tmp_path):
    results = tmp_path / "res"
    results.mkdir()
    (results / "a-result.json").write_text("{}")
    (results / "categories.json").write_text("[]")
    history = tmp_path / "prev" / "history"
    history.mkdir(parents=True)
    (history / "history-trend.json").write_text("[]")
    stage = tmp_path / "stage"
    stage.mkdir()
    assert share._stage(results, history, stage) == 1
    assert sorted(p.name for p in stage.iterdir()) == ["a-result.json", "categories.json", "history"]
    assert (stage / "history" / "history-trend.json").read_text() == "[]"
    assert not (results / "history").exists()  # the user's results dir is not modified


def test_installer_without_java_fails_with_a_clear_message(tmp_path):
    """No java on PATH and no JAVA_HOME: the installer names what to install (no npm call made)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sed", "head", "dirname", "mkdir"):
        target = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (bindir / tool).symlink_to(target)
    env = {"PATH": str(bindir), "C7N_TOOLS_DIR": str(tmp_path / "tools"), "HOME": str(tmp_path)}
    bash = subprocess.run(["bash", "-c", "command -v bash"], capture_output=True, text=True).stdout.strip()
    proc = subprocess.run([bash, str(ROOT / "scripts" / "install-allure.sh")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 1
    assert "Java is not installed" in proc.stderr
    assert proc.stdout == ""
