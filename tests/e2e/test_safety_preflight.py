"""Bad input is found before the first write, and nothing waits without bound: a SQL identifier, a
wrong admin password, client secret, MySQL password, gateway URL or organization, a gateway failing
every platform call, a secret too weak to mask, an image pinned by the values,
a helm that hangs, an API server that never answers, a "billion laughs" env file.

One sandbox left at 0.8; every run here is refused, read-only, or stopped before its first write
(the image pin, last, changes iam-service's values at 0.8).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.e2e.harness import ROOT, ObservedSandbox, run_suite
from tests.hanging import Unanswering
from tests.registry_standin import standin_registry
from tests.sandbox.kubectl_output import wait_for

pytestmark = pytest.mark.slow
STEP_1 = "suites/upgrade/test_01_register_server.py"
NS = "choerodon-devops-prod"


@pytest.fixture(scope="module")
def sandbox08(tmp_path_factory):
    base = tmp_path_factory.mktemp("preflight")
    with ObservedSandbox(base / f"sb-{os.getpid()}-preflight") as sb:
        yield sb, base


def env_copy(sb, name: str, change) -> str:
    data = sb.env_data()
    change(data)
    path = sb.dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return str(path)


def test_a_secret_too_short_or_a_common_word_gets_a_warning_naming_only_its_key(sandbox08):
    sb, base = sandbox08
    run = run_suite(base, "suites/pre_upgrade/test_12_secret_strength.py", "--env", str(sb.env_file),
                    env_extra={"C7N_ADMIN_PASSWORD": "Devops", "C7N_MYSQL_PASSWORD": "pw-12"})
    assert run.exit_code == 0, run.output[-3000:]  # a warning, not a failure
    flat = run.flat_output()
    assert ("warning: secret mysql.password (${C7N_MYSQL_PASSWORD}) cannot be masked cleanly: it is 5 characters "
            "long (fewer than 8)") in flat
    assert "warning: secret platform.admin_password (${C7N_ADMIN_PASSWORD}) cannot be masked cleanly: it is " in flat
    assert "platform.client_secret" not in flat  # the sandbox's own secrets are long and no words
    for text in (run.output, (run.run_dir / "run.log").read_text()):
        assert "Devops" not in text and "pw-12" not in text


def test_a_sql_identifier_is_refused_at_load_before_anything(sandbox08):
    sb, base = sandbox08
    path = env_copy(sb, "env-sql", lambda d: d["mysql"].update(user="choerodon'@'%'; DROP DATABASE iam_service; --"))
    calls_before = len(sb.helm_calls())  # the module's sandbox: earlier runs' pre-flight asked helm's version
    run = run_suite(base, "suites/", "--env", path, "--allow-upgrade-in-ci")
    assert run.exit_code == 4, run.output[-2000:]
    assert "env-sql.yaml: key 'mysql.user': expected a MySQL user name" in run.output
    assert len(sb.helm_calls()) == calls_before and "iam_service" in sb.databases()


def test_a_billion_laughs_env_file_is_refused_quickly_naming_the_file(tmp_path):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\nname: laughs\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("C7N_") and k != "CI"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites/post_upgrade", "--env", str(path),
                           "-p", "no:cacheprovider", "-o", "addopts="],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4
    assert "laughs.yaml: its YAML expands to more than" in proc.stderr


def _wrong_gateway(data):
    data["gateway_url"] = "http://127.0.0.1:9"  # the discard port: nothing answers


@pytest.mark.parametrize("what, env_extra, change, test, said", [
    ("admin password", {"C7N_ADMIN_PASSWORD": "not-the-admin-password"}, None,
     "test_10_platform.py::test_admin_gets_a_token", "login as 'admin'"),
    ("OAuth client secret", {"C7N_OAUTH_CLIENT_SECRET": "not-the-client-secret"}, None,
     "test_10_platform.py::test_admin_gets_a_token", "HTTP 401"),
    ("gateway URL", {}, _wrong_gateway, "test_10_platform.py::test_admin_gets_a_token", "http://127.0.0.1:9"),
    ("MySQL app password", {"C7N_MYSQL_PASSWORD": "not-the-app-password"}, None,
     "test_05_mysql.py::test_mysql_app_user_login", "choerodon exists and cannot log in"),
    ("organization", {}, lambda d: d["platform"].update(organization_id=999),
     "test_10_platform.py::test_the_platform_calls_inputs_hold",
     "organization 999 (platform.organization_id) does not exist"),
])
def test_a_wrong_late_input_blocks_the_upgrade_before_the_first_write(sandbox08, what, env_extra, change, test, said):
    sb, base = sandbox08
    path = env_copy(sb, "env-late", change) if change else str(sb.env_file)
    pre = f"suites/pre_upgrade/{test.split('::')[0]}"
    run = run_suite(base, pre, STEP_1, "--env", path, "--allow-upgrade-in-ci", env_extra=env_extra)
    assert run.exit_code == 1, run.output[-2000:]
    outcomes = run.outcomes()
    assert outcomes[f"suites/pre_upgrade/{test}"] == "failed", what
    assert said in run.output
    step1 = {k: v for k, v in outcomes.items() if STEP_1 in k}
    assert step1 and all(v.startswith("skipped: blocked by pre-upgrade check") for v in step1.values())
    assert sb.writes() == []


def test_a_gateway_that_fails_every_platform_call_stops_the_run_in_pre_flight(sandbox08):
    """It issues tokens, then answers HTTP 200 `{"failed": true}` to everything: found before the first write,
    not at step 11 after ten releases were upgraded."""
    sb, base = sandbox08
    sb.fault("api-gateway=platform-failed")
    try:
        run = run_suite(base, "suites/pre_upgrade/test_10_platform.py", STEP_1, "--env", str(sb.env_file),
                        "--allow-upgrade-in-ci")
    finally:
        sb.fault("--clear", "api-gateway")
    outcomes = run.outcomes()
    assert outcomes["suites/pre_upgrade/test_10_platform.py::test_admin_gets_a_token"] == "passed"
    assert outcomes["suites/pre_upgrade/test_10_platform.py::test_the_platform_calls_inputs_hold"] == "failed"
    assert "devops-service (step 11's smooth upgrade)" in run.output and "failed=true" in run.output
    assert all(v.startswith("skipped: blocked by pre-upgrade check") for k, v in outcomes.items() if STEP_1 in k)
    assert sb.writes() == []


def _creates(sb) -> int:
    with sb.mysql() as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Com_create_db'")
        return int(cur.fetchone()[1])


def test_by_default_the_backups_restore_check_creates_no_database_on_the_dumped_server(sandbox08):
    sb, base = sandbox08
    before = _creates(sb)
    run = run_suite(base, "suites/upgrade/test_00_backup.py", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    assert run.exit_code == 0, run.output[-3000:]
    assert "dumped and restored into a throwaway MariaDB on this machine" in run.output
    assert _creates(sb) == before, "the restore check created a database on the server it dumped"
    on_server = env_copy(sb, "env-restore-on-server", lambda d: d.setdefault("backup", {}).update(restore_check="server"))
    run = run_suite(base, "suites/upgrade/test_00_backup.py", "--env", on_server, "--allow-upgrade-in-ci")
    assert run.exit_code == 0 and "dumped and restored into the dumped server" in run.output, run.output[-3000:]
    assert _creates(sb) > before
    assert sb.writes() == []


def test_a_helm_that_hangs_stops_the_run_within_its_limit_naming_it(sandbox08, tmp_path):
    """Every helm call hangs: the first one is stopped after timeouts.helm, the next ones fail at once."""
    sb, base = sandbox08
    calls = tmp_path / "calls"
    wrapper = tmp_path / "helm"
    wrapper.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\nexec sleep 600\n")
    wrapper.chmod(0o755)

    def hanging(data):
        data["helm"]["binary"] = str(wrapper)
        data["helm"].pop("dialect", None)  # unstated, as an operator's env: the suite asks helm `version` first
        data["timeouts"].update(helm=3)

    path = env_copy(sb, "env-hang", hanging)
    run = run_suite(base, "suites/pre_upgrade", "suites/upgrade", "--env", path, "--allow-upgrade-in-ci",
                    timeout=240)
    assert run.exit_code == 1
    assert "helm hung: `" in run.output and "version --short ...` did not finish within 3s" in run.output
    assert len(calls.read_text().splitlines()) <= 2, "helm was started again after it hung"
    assert sb.writes() == []


def test_a_helm_write_that_hangs_is_stopped_with_progress_shown(sandbox08):
    sb, base = sandbox08
    sb.fault("register-server=helm-hang:600")
    try:
        path = env_copy(sb, "env-write-hang", lambda d: d["timeouts"].update(helm=3, step=4))
        run = run_suite(base, STEP_1, "--env", path, "--allow-upgrade-in-ci", timeout=120)
    finally:
        sb.fault("--clear", "register-server")
    assert run.exit_code == 1
    assert "helm upgrade register-server: still running after" in run.output
    assert "did not finish within 7s and was stopped (helm hung)" in run.output
    assert run.outcomes()["suites/upgrade/test_01_register_server.py::test_rollout"].startswith("skipped: blocked")


def test_an_api_server_that_never_answers_stops_the_run_naming_it(sandbox08, tmp_path):
    sb, base = sandbox08
    writes = len(sb.writes())  # the wrapper logs a call as it starts: the hung write above is there
    server = Unanswering()
    try:
        kubeconfig = yaml.safe_load((sb.dir / "kubeconfig").read_text())
        kubeconfig["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{server.port}"
        kc = tmp_path / "kubeconfig"
        kc.write_text(yaml.safe_dump(kubeconfig))
        kc.chmod(0o600)

        def hung(data):
            data["kube"]["kubeconfig"] = str(kc)
            data["timeouts"].update(kube=3, helm=5)

        path = env_copy(sb, "env-api-hang", hung)
        run = run_suite(base, "suites/pre_upgrade", "suites/upgrade", "--env", path, "--allow-upgrade-in-ci",
                        timeout=240)
    finally:
        server.close()
    assert run.exit_code == 4  # stopped before the first test, one cause
    assert f"the Kubernetes API server at http://127.0.0.1:{server.port} did not answer" in run.output
    assert len(server.accepted) <= 12, f"{len(server.accepted)} requests to an API server that had stopped answering"
    assert len(sb.writes()) == writes


def test_a_registry_without_the_target_image_stops_pre_flight_naming_it(sandbox08):
    """iam-service runs from the operator's own registry (a mirror, as an air-gapped cluster has), which
    holds its 0.8.0 image but not 0.9.0: pre-flight fails naming the image, before any helm write; the
    registries that do not answer from here (the public ones, no network) are noted, not failed."""
    sb, base = sandbox08
    before = len(sb.writes())
    with standin_registry(tags=[("choerodon/iam-service", "0.8.0")]) as (address, _handler):
        sb.set_image("iam-service", "0.8.0", repository=f"{address}/choerodon/iam-service")
        wait_for(lambda: _ready_with(sb, "iam-service", f"{address}/choerodon/iam-service:0.8.0"), 60,
                 "iam-service's pod from the mirror Ready")  # the old pod may still be there
        run = run_suite(base, "suites/pre_upgrade/test_12_images.py", STEP_1, "--env", str(sb.env_file),
                        "--allow-upgrade-in-ci")
    writes = [w for w in sb.writes()[before:] if "--no-hooks" not in w]  # the test's own re-deploy aside
    assert run.exit_code == 1, run.output[-3000:]
    flat = run.flat_output()
    assert (f"the upgrade would stop at these steps with ErrImagePull: {address}/choerodon/iam-service:0.9.0 is "
            f"not in its registry ({address} has no choerodon/iam-service:0.9.0 (HTTP 404))") in flat
    step1 = run.by_test(STEP_1)
    assert step1 and all(v.startswith("skipped: blocked by pre-upgrade check") for v in step1.values())
    assert writes == []
    notes = " ".join(json.dumps(r) for r in run.allure_results())
    assert "registry.cn-hangzhou.aliyuncs.com/choerodon/manager-service:0.9.0: unanswered" in notes


def _ready_with(sb, release: str, image: str) -> bool:
    _, pods = sb.api(f"/api/v1/namespaces/{NS}/pods?labelSelector=choerodon.io%2Frelease%3D{release}")
    return any(p["spec"]["containers"][0]["image"] == image and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        for p in pods["items"])


def test_an_image_pinned_by_the_values_is_shown_by_the_dry_run_and_refused_by_the_step(sandbox08):
    """Last: pins iam-service's image at 0.8.0 in its values (revision 2, still chart 0.8.0)."""
    sb, base = sandbox08
    sb.pin_image("iam-service", "0.8.0", "0.8.0")
    writes = len(sb.writes())
    dry = run_suite(base, "suites/pre_upgrade", "suites/upgrade", "--env", str(sb.env_file), "--dry-run",
                    "--allow-upgrade-in-ci")
    assert dry.exit_code == 1
    assert dry.outcomes()["suites/pre_upgrade/test_09_image_pins.py::test_no_values_pin_an_old_image"] == "failed"
    assert "release iam-service's values pin image.tag: 0.8.0" in dry.output
    step = run_suite(base, "suites/upgrade/test_04_iam_service.py", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    assert step.exit_code == 1
    assert step.outcomes()["suites/upgrade/test_04_iam_service.py::test_upgrade"] == "failed"
    assert "release iam-service's values pin image.tag: 0.8.0" in step.output
    assert len(sb.writes()) == writes, "helm was called to upgrade a release whose values pin the old image"
