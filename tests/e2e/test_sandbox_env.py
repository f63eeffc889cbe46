"""`pytest suites/ --env sandbox`: a fresh sandbox for the run (here Helm 3, renamed releases,
Chinese titles), upgraded end to end, then stopped."""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import run_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def helm3_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("helm3")
    sbdir = base / "sandbox"
    run = run_suite(base, "suites/", "--env", "sandbox", "--sandbox-helm", "3", "--sandbox-dir", str(sbdir),
                    "--sandbox-release-name", "iam-service=iam", "--sandbox-release-name", "wiki-service=c7n-wiki",
                    "--lang", "zh", "--allow-upgrade-in-ci")
    return run, sbdir


def _calls(sbdir):
    return [json.loads(line)["argv"] for line in (sbdir / "helm-calls.jsonl").read_text().splitlines()]


def test_helm3_sandbox_with_renamed_releases_upgrades_end_to_end(helm3_run):
    run, sbdir = helm3_run
    assert run.exit_code == 0, run.output[-3000:]
    assert f"sandbox: starting a Choerodon 0.8 installation on the real control plane in {sbdir}" in run.output
    assert json.loads((sbdir / "sandbox.json").read_text())["helm_dialect"] == 3, "not the Helm 3 asked for"
    writes = [a for a in _calls(sbdir) if a[0] in ("upgrade", "install")]
    assert ["upgrade", "iam", "c7n/iam-service"] == writes[3][:3]
    assert ["upgrade", "c7n-wiki", "c7n/wiki-service"] in [a[:3] for a in writes]
    install = [a for a in writes if a[0] == "install"][0]
    assert install[:3] == ["install", "notify-service", "c7n/notify-service"]  # Helm 3 syntax
    assert "--name" not in install and "-n" in install
    assert all(not a[0] == "upgrade" or "--namespace" in a for a in writes)


def test_chinese_titles_in_the_report(helm3_run):
    run, _ = helm3_run
    titles = [r["name"] for r in run.allure_results()]
    assert any("升级 register-server 0.8.0 → 0.9.0" in t for t in titles), titles[:20]
    assert any("部署 notify-service 0.9.0" in t for t in titles)
    assert any(t.startswith("[04.2] 验证升级 iam-service：") for t in titles)  # the guide's own wording, in run order
    assert any(line.startswith("[04/16] iam：") for line in run.output.splitlines())


def test_the_chinese_summary_and_notes_are_whole(helm3_run):
    """--lang zh: the settled pods of each step, the OAuth client, what the run kept: no English left."""
    run, _ = helm3_run
    assert re.search(r"^iam：1 个 pod 为 0\.9\.0，全部 UP（[\d.]+s）$", run.output, re.M), run.output[-3000:]
    assert "已创建 client choerodon" in run.output
    assert re.search(r"^  values 备份（helm get values，完整保存：仅本地私有，不进入报告）：\S+/values$", run.output, re.M)
    assert re.search(r"^  数据库备份（首次写入之前）：\S+/db-backup$", run.output, re.M)
    summary = run.output[run.output.index("升级总结"):]
    for english in ("pod(s) on", "all UP (", "OAuth client 'choerodon'", "database backup", "values backup"):
        assert english not in summary and not re.search(rf"^\S+: .*{re.escape(english)}", run.output, re.M), english


def test_the_sandbox_is_gone_after_the_run(helm3_run):
    run, sbdir = helm3_run
    env = yaml.safe_load((sbdir / "env.yaml").read_text())
    host, port = env["gateway_url"].split("//")[1].split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()
    api = yaml.safe_load((sbdir / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
    api_host, api_port = api.split("//")[1].split(":")
    with pytest.raises(OSError):
        socket.create_connection((api_host, int(api_port)), timeout=2).close()


def test_no_secret_in_output_or_report(helm3_run):
    run, sbdir = helm3_run
    text = run.all_text()
    for line in (sbdir / "secrets.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            assert value.strip().strip("'\"") not in text, f"{name} leaked"


def test_the_sandbox_run_becomes_one_shareable_html_file(helm3_run, tmp_path):
    """`python -m c7n_upgrade.share` on this run's results: one self-contained file, every test in it."""
    from tests.ops.test_share import _embedded, _run_share

    run, _ = helm3_run
    out = tmp_path / "upgrade-report.html"
    proc = _run_share("--results", str(run.alluredir), "--out", str(out), "--report-dir", str(tmp_path / "dir"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = out.read_text(encoding="utf-8")
    assert re.findall(r'(?:src|href)="(?!data:|#)([^"]+)"', html) == []
    stat = _embedded(html, "widgets/summary.json")["statistic"]
    assert stat["total"] == len(run.outcomes()) and stat["failed"] == 0 and stat["passed"] > 90
    environment = {e["name"]: e["values"] for e in _embedded(html, "widgets/environment.json")}
    assert environment["namespace"] == ["choerodon-devops-prod"]


def test_a_default_sandbox_leaves_nothing_behind(tmp_path):
    """Without --sandbox-dir the sandbox lives in a temp dir of its own, removed when the run ends (its
    MariaDB data is about 100 MB); here the read-only proof on the fresh 0.8 sandbox, which stops at once."""
    run = run_suite(tmp_path, "suites/post_upgrade", "--env", "sandbox")
    started = re.search(r"sandbox: starting a Choerodon 0.8 installation on the real control plane in (\S+)", run.output)
    assert started, run.output[-2000:]
    assert run.exit_code == 1 and run.outcome()["outcome"] == "stopped", run.output[-2000:]
    assert not Path(started.group(1)).exists()
