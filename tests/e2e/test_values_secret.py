"""Values are secret until proven otherwise: credentials under a dozen keys no masking rule knows, inside
JAVA_OPTS, in URLs and in base64, planted in a release's values, appear in no output of a run that backs
them up and upgrades that release, nor in its report, its run directory or the shared HTML file; the
whole values stay only in the run's private values/ (0700, files 0600), and every report file is 0600
in a 0700 directory. The env is named `../../x`: nothing is written outside the reports directory.
"""
from __future__ import annotations

import base64
import re
import stat
import subprocess
import sys

import pytest

from tests.e2e.harness import PRIVATE, ROOT, _env, module_sandbox, run_suite

pytestmark = pytest.mark.slow
INNER = {"javaOptPw-55q", "redisPw-6f2w", "b64Secret-41zk", "jdbcPw-12xy", "hookPw-90ab"}
CREDENTIALS = {  # iam-service's env.open: none of these keys says "password"
    "SERVICES_HARBOR_PASS": "Hb0r-pass-q7Zx",
    "SPRING_DATASOURCE_PWD": "dsPwd-93kq1",
    "SERVICES_API_KEY": "apikey-Zq81mXv",
    "JAVA_OPTS": "-Xms512m -Dspring.datasource.password=javaOptPw-55q -Xmx1g",
    "SPRING_REDIS_URL": "redis://:redisPw-6f2w@redis.db:6379/0",
    "SERVICES_TOKEN_B64": base64.b64encode(b"b64Secret-41zk").decode(),
    "DB_URL": "jdbc:mysql://db:3306/iam?user=iam&password=jdbcPw-12xy",
    "NOTIFY_HOOK": "https://ops:hookPw-90ab@hooks.example/notify",
    "CHOERODON_CRED": "cred-k3y-7781",
    "X_AUTH": "Bearer tok-77zz88yy",
    "MINIO_SK": "minioSk-3301q",
    "SMTP_CODE": "smtpCode-44r",
    "LDAP_BIND": "ldapBind-Pw1x",
}
NEEDLES = {*CREDENTIALS.values(), *INNER} - {CREDENTIALS["JAVA_OPTS"]} | {"spring.datasource.password=javaOptPw"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    with module_sandbox(tmp_path_factory, "values-secret") as (sb, base):
        sb.redeploy_with("iam-service", "0.8.0", lambda v: v.setdefault("env", {}).setdefault("open", {})
                         .update(CREDENTIALS))
        env_file = sb.env_with("env-dot-dot", name="../../x")  # share must not follow it out of reports/
        run = run_suite(base, "suites/pre_upgrade", "suites/upgrade/test_04_iam_service.py", "--env",
                        str(env_file), "--allow-upgrade-in-ci", "-l", runs=base / "reports" / "runs")
        share = subprocess.run([sys.executable, "-m", "c7n_upgrade.share", "--run", str(run.run_dir)], cwd=ROOT,
                               env=_env({"C7N_RUNS_DIR": str(run.run_dir.parent)}), capture_output=True, text=True,
                               timeout=600)
        yield sb, run, share


def _files(directory):
    return [p for p in directory.rglob("*") if p.is_file()]


def test_no_planted_credential_in_any_output_report_or_shared_file(planted):
    _sb, run, share = planted
    assert run.exit_code == 0, run.output[-3000:]
    assert run.outcomes()["suites/upgrade/test_04_iam_service.py::test_upgrade"] == "passed"
    if share.returncode != 0:
        pytest.fail("c7n_upgrade.share failed (npm registry or Java unavailable?):\n" + share.stderr[-3000:],
                    pytrace=False)
    reports = run.run_dir.parent.parent  # the runs dir's parent: the latest shared copy and the history
    texts = {"terminal": run.output, "junit": run.junit.read_text(encoding="utf-8"),
             "share": share.stdout + share.stderr}
    for path in _files(reports):
        if not PRIVATE & set(path.relative_to(reports).parts):
            texts[str(path.relative_to(reports))] = path.read_bytes().decode("utf-8", "replace")
    shared = [name for name in texts if name.endswith("upgrade-report.html")]
    assert len(shared) == 2 and len(texts) > 50  # the run's and the latest copy
    # the single file embeds its data base64-encoded: look inside too
    for name in shared:
        texts[name + " (decoded)"] = _decoded(texts[name])
    leaks = sorted((name, needle) for name, text in texts.items() for needle in NEEDLES if needle in text)
    assert not leaks, leaks[:10]
    # the keys are there (backup attachment, values diff), their values hidden behind a hash
    report = run.all_text()
    for key in CREDENTIALS:
        assert re.search(key + r": <hidden [0-9a-f]{8}>", report), key


def _decoded(html: str) -> str:
    out = []
    for chunk in re.findall(r"'([A-Za-z0-9+/=]{16,})'", html):
        try:
            out.append(base64.b64decode(chunk).decode("utf-8", "replace"))
        except ValueError:
            continue
    return "\n".join(out)


def test_the_whole_values_stay_in_the_private_values_directory(planted):
    _sb, run, _share = planted
    values = run.run_dir / "values"
    assert stat.S_IMODE(values.stat().st_mode) == 0o700
    kept = (values / "iam-service.yaml").read_text()
    assert all(secret in kept for secret in CREDENTIALS.values() if "\n" not in secret)  # whole: it restores
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in values.iterdir())


def test_every_report_file_is_0600_in_a_0700_directory(planted):
    _sb, run, _share = planted
    reports = run.run_dir.parent.parent
    files = _files(reports)
    assert len(files) > 50
    wide = [str(p) for p in files if stat.S_IMODE(p.stat().st_mode) != 0o600]
    wide += [str(p.parent) for p in files if stat.S_IMODE(p.parent.stat().st_mode) != 0o700]
    assert not wide, sorted(set(wide))[:10]
    assert (reports / "upgrade-report.html").is_file() and stat.S_IMODE(reports.stat().st_mode) == 0o700


def test_an_env_named_dot_dot_shares_inside_the_reports_directory(planted):
    _sb, run, _share = planted
    reports = run.run_dir.parent.parent
    assert not (reports.parent / "x").exists() and not (reports.parent.parent / "x").exists()
    assert [p.name for p in (reports / "history").iterdir()] == ["_.._x"]
    assert run.run_dir.parent == reports / "runs" and run.run_dir.name.endswith("-.._.._x")
