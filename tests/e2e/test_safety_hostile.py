"""A whole upgrade with hostile secrets, then the post-upgrade proof against what a single probe misses.

The sandbox takes its secrets from the environment (contract), so they hold `' " \\ $ % ; #`, spaces at
both ends, a newline, a leading `@ ! % * &`, latin-1 and CJK characters; the MySQL root password is
latin-1, the services' password CJK. helm is a wrapper that records the environment it was given.
The run uses `-l` (pytest prints every frame's locals on a failure).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from c7n_sandbox.charts import IMAGE_REGISTRY
from tests.e2e.harness import PRIVATE, ObservedSandbox, run_suite
from tests.sandbox.kubectl_output import wait_for

pytestmark = pytest.mark.slow
HOSTILE = {
    "C7N_MYSQL_ROOT_PASSWORD": "@Choerodon'2019 \"q\" `id` $HOME \\ 50% ;#é",
    "C7N_MYSQL_PASSWORD": "  !lead and trail 密码 '\"  ",
    "C7N_ADMIN_PASSWORD": "%pass*word&\nsecond line $x",
    "C7N_OAUTH_CLIENT_SECRET": "*star'\"mix\\back;#",
    "C7N_FRONT_CLIENT_SECRET": "&amp;中文 sécret#%s",
}
NS = "choerodon-devops-prod"


def recognisable(secret: str) -> set[str]:
    """How a secret would be recognised in a file: raw, trimmed, each line, and the insides of its
    repr, JSON string and YAML single- and double-quoted scalars (computed here, not by the redactor)."""
    forms = {secret, secret.strip(), repr(secret)[1:-1], json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1], secret.replace("'", "''"),
             yaml.safe_dump(secret, default_style='"', allow_unicode=True).strip()[1:-1].strip().rstrip('"')}
    forms |= {line.strip() for line in secret.splitlines()}
    return {f for f in forms if len(f) >= 4}


@pytest.fixture(scope="module", params=["real-helm2", "real"])
def hostile(request, tmp_path_factory):
    """On the real control plane (the node), with the real Helm 2 and Tiller, and with the real Helm 3."""
    base = tmp_path_factory.mktemp(f"hostile-{request.param}")
    cluster = ["--helm", "2" if request.param == "real-helm2" else "3"]
    with ObservedSandbox(base / f"sb-{os.getpid()}-hostile", *cluster, environ=HOSTILE) as sb:
        assert sb.secrets() == HOSTILE  # the sandbox used them
        envs = base / "helm-envs"
        envs.mkdir()
        wrapper = base / "helm"
        wrapper.write_text(f"#!/bin/sh\nenv -0 > \"{envs}/$$.env\"\nexec {sb.dir / 'bin' / 'helm'} \"$@\"\n")
        wrapper.chmod(0o755)
        data = sb.env_data()
        data["helm"]["binary"] = str(wrapper)
        env_file = sb.dir / "env-hostile.yaml"
        env_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        # the secrets are in pytest's environment as well, as an operator exports them
        run = run_suite(base, "suites/", "--env", str(env_file), "--allow-upgrade-in-ci", "-l", env_extra=HOSTILE)
        yield sb, run, base, env_file, envs


def test_the_whole_upgrade_passes_with_latin1_and_cjk_mysql_passwords(hostile):
    _sb, run, _base, _env, _envs = hostile
    assert run.exit_code == 0, run.output[-3000:]
    outcomes = run.outcomes()
    for test in ("suites/pre_upgrade/test_05_mysql.py::test_mysql_admin_login",  # root: latin-1
                 "suites/pre_upgrade/test_05_mysql.py::test_mysql_app_user_login",  # choerodon: CJK
                 "suites/upgrade/test_05_notify_service.py::test_database",
                 "suites/post_upgrade/test_03_databases.py::test_database_and_grant[notify_service]"):
        assert outcomes[test] == "passed", test


def _backup_dir(run) -> Path:
    kept = run.outcome()["kept"]
    assert "database backup (before the first write)" in kept, f"the summary does not say where the backup is: {kept}"
    return Path(kept["database backup (before the first write)"])


def test_no_secret_in_any_output_in_any_form(hostile):
    sb, run, _base, _env, _envs = hostile
    texts = {"terminal": run.output, "junit": run.junit.read_text(encoding="utf-8")}
    tiller = sb.dir / "tiller" / "tiller.log"  # Helm 2: Tiller logs each release it renders and applies
    assert tiller.exists() == (sb.env_data()["helm"]["dialect"] == 2)
    if tiller.exists():
        texts["Tiller's log"] = tiller.read_text(encoding="utf-8", errors="replace")
    texts |= {p.name: p.read_text(encoding="utf-8", errors="replace") for p in run.alluredir.iterdir() if p.is_file()}
    texts |= {f"run dir {p.relative_to(run.run_dir)}": p.read_text(encoding="utf-8", errors="replace")
              for p in run.run_dir.rglob("*") if p.is_file() and not PRIVATE & set(p.parts)}  # not the backups
    assert len(texts) > 50 and "<hidden " in run.all_text()  # the values shown and their diffs were hidden
    leaks = {(name, var, form) for name, text in texts.items() for var, secret in HOSTILE.items()
             for form in recognisable(secret) if form in text}
    assert not leaks, sorted(leaks)[:10]


def test_helm_got_no_secret_in_its_environment(hostile):
    _sb, run, _base, _env, envs = hostile
    recorded = [dict(item.split("=", 1) for item in p.read_text(encoding="utf-8").split("\0") if "=" in item)
                for p in envs.glob("*.env")]
    assert len(recorded) > 30  # every helm call of the run
    for environ in recorded:
        assert not [k for k in environ if k.startswith("C7N_")], sorted(environ)
        for secret in HOSTILE.values():
            assert not [k for k, v in environ.items() if secret in v or secret.strip() == v.strip()]


def _mysql_client(sb, base: Path, *args: str, stdin=None) -> str:
    """The `mariadb` client as root, the password in an option file of the test's own."""
    options = base / "root.cnf"
    password = HOSTILE["C7N_MYSQL_ROOT_PASSWORD"]
    escaped = password.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    options.write_text(f'[client]\nhost=127.0.0.1\nport={sb.env_data()["mysql"]["port"]}\nuser=root\n'
                       f'password="{escaped}"\n')
    options.chmod(0o600)
    proc = subprocess.run(["mariadb", f"--defaults-extra-file={options}", "--batch", "--skip-column-names", *args],
                          stdin=stdin, capture_output=True, check=True, timeout=120)
    return proc.stdout.decode()


def test_the_backup_was_taken_before_the_first_write_and_restores(hostile):
    sb, run, base, _env, _envs = hostile
    backup = _backup_dir(run)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    dumps = sorted(backup.glob("*.sql"))
    assert {p.stem for p in dumps} >= {"manager_service", "iam_service", "devops_service", "agile_service",
                                        "test_manager_service", "wiki_service"}
    sums = dict(reversed(line.split("  ", 1)) for line in (backup / "SHA256SUMS").read_text().splitlines())
    for dump in dumps:
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        assert sums[dump.name] == hashlib.sha256(dump.read_bytes()).hexdigest()
    # taken before any helm write: the backup test ran first in the upgrade phase
    order = [k for k in run.outcomes() if "suites/upgrade/" in k]
    assert order[0] == "suites/upgrade/test_00_backup.py::test_database_backup"
    # restore one the upgrade did not change, as docs/real-cluster.md says, and compare with the live one
    _mysql_client(sb, base, "-e", "CREATE DATABASE restored_manager")
    with open(backup / "manager_service.sql", "rb") as dump:
        _mysql_client(sb, base, "restored_manager", stdin=dump)
    query = ("SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' "
             "ORDER BY TABLE_NAME")
    counts = {}
    for db in ("manager_service", "restored_manager"):
        tables = _mysql_client(sb, base, "-e", query.format(db)).split()[::2]
        counts[db] = {t: _mysql_client(sb, base, "-e", f"SELECT COUNT(*) FROM `{db}`.`{t}`").strip() for t in tables}
    assert counts["restored_manager"] == counts["manager_service"] and counts["manager_service"]


# ---- the post-upgrade proof, at the default settle window ---------------------------------------------
def _default_window_env(sb, env_file: Path) -> Path:
    data = yaml.safe_load(env_file.read_text())
    data["timeouts"].pop("settle", None)  # the default window (10 s), as a real env has it
    path = sb.dir / "env-default-settle.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def test_a_slow_flap_fails_the_post_upgrade_proof(hostile):
    """3 s DOWN, 3 s UP: one probe per pod passed half the time; the window catches it every time."""
    sb, _run, base, env_file, _envs = hostile
    sb.fault("oauth-server=flap:3")
    try:
        run = run_suite(base, "suites/post_upgrade/test_01_releases.py", "--env", str(_default_window_env(sb, env_file)),
                        "-k", "oauth or iam", env_extra=HOSTILE)
    finally:
        sb.fault("--clear", "oauth-server")
    outcomes = run.outcomes()
    assert outcomes["suites/post_upgrade/test_01_releases.py::test_release_at_target[oauth-server]"] == "failed"
    assert outcomes["suites/post_upgrade/test_01_releases.py::test_release_at_target[iam-service]"] == "passed"
    assert re.search(r"oauth-server \(one of \d+ observations over the settle window\)", run.output)


def test_an_old_image_under_the_new_label_fails_the_post_upgrade_proof(hostile):
    """iam-service re-deployed at chart 0.9.0 with `image.tag: 0.8.0`: label and chart say 0.9.0, the pod
    runs (and says) 0.8.0. Last in the module: it leaves iam-service so."""
    sb, _run, base, env_file, _envs = hostile
    sb.pin_image("iam-service", "0.9.0", "0.8.0")

    def rolled_to_the_pinned_image():
        pods = sb.api(f"/api/v1/namespaces/{NS}/pods?labelSelector=choerodon.io/release%3Diam-service")[1]["items"]
        images = {p["spec"]["containers"][0]["image"] for p in pods}
        ready = all(c["status"] == "True" for p in pods for c in p["status"]["conditions"] if c["type"] == "Ready")
        return len(pods) == 1 and images == {f"{IMAGE_REGISTRY}/iam-service:0.8.0"} and ready

    wait_for(rolled_to_the_pinned_image, 60, "iam-service rolled out to the pinned 0.8.0 image")
    run = run_suite(base, "suites/post_upgrade/test_01_releases.py", "--env", str(env_file), "-k", "iam",
                    env_extra=HOSTILE)
    assert run.outcomes()["suites/post_upgrade/test_01_releases.py::test_release_at_target[iam-service]"] == "failed"
    assert "running an image not tagged 0.9.0" in run.output and "iam-service:0.8.0" in run.output
    assert "on 0.9.0 1/1" in run.output  # the label said 0.9.0: only the image and the service tell
    assert re.search(r"iam-service-\S+ says 0\.8\.0 at /info", run.output)
