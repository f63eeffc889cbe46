"""`share` keeps to the reports directory and to its owner: an env `name` of `../../x` writes nothing
outside it, and every file it writes is 0600 in 0700 directories. The Allure generator is a stand-in
script here (tests/ops/test_share.py runs the real one)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from c7n_upgrade import share

FAKE_ALLURE = """#!/bin/sh
# allure generate [--single-file] SRC -o OUT ...: an index.html and a history/ file in OUT
while [ "$1" != "-o" ]; do shift; done
mkdir -p "$2/history" "$2/data"
echo '<html>report</html>' > "$2/index.html"
echo '[]' > "$2/history/history-trend.json"
echo '{}' > "$2/data/suites.json"
"""


def _world(tmp_path: Path, env_name: str) -> tuple[Path, Path, str]:
    top = tmp_path / "a" / "b"
    reports = top / "reports"
    results = reports / "runs" / "20261205T100000Z-x" / "allure-results"
    results.mkdir(parents=True)
    (results / "1-result.json").write_text("{}")
    (results / "environment.properties").write_text(f"env={env_name}\noutcome=UPGRADED\n")
    allure = tmp_path / "allure"
    allure.write_text(FAKE_ALLURE)
    allure.chmod(0o755)
    return top, results.parent, str(allure)


def test_an_env_name_with_dot_dot_writes_nothing_outside_the_reports_directory(tmp_path):
    top, run_dir, allure = _world(tmp_path, "../../x")
    before = {p for p in tmp_path.rglob("*")}
    old = os.umask(0o022)  # as an operator's shell has it: the generator writes 0644
    try:
        share.share_run(run_dir, reports=top / "reports", allure=allure)
        share.share_run(run_dir, reports=top / "reports", allure=allure)  # again, with the history there
    finally:
        os.umask(old)
    written = {p for p in tmp_path.rglob("*")} - before
    assert written and all((top / "reports") in p.parents for p in written), sorted(map(str, written))
    assert not (top / "x").exists() and not (tmp_path / "a" / "x").exists() and not (tmp_path / "x").exists()
    assert (top / "reports" / "history" / share.safe_name("../../x") / "history-trend.json").is_file()
    assert share.safe_name("..") == "default" and share.safe_name("prod/../../etc") == "prod_.._.._etc"


def test_every_file_share_writes_is_0600_in_a_0700_directory(tmp_path):
    top, run_dir, allure = _world(tmp_path, "prod")
    share.share_run(run_dir, reports=top / "reports", allure=allure)
    share.share_run(run_dir, reports=top / "reports", allure=allure)
    reports = top / "reports"
    files = [reports / "upgrade-report.html", run_dir / "upgrade-report.html",
             *(p for p in (run_dir / "allure-report").rglob("*") if p.is_file()),
             *(p for p in (reports / "history").rglob("*") if p.is_file()),
             *(p for p in (run_dir / "history-in").rglob("*") if p.is_file())]
    assert len(files) >= 6
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    assert stat.S_IMODE(reports.stat().st_mode) == 0o700
