"""A whole upgrade of the default sandbox (the real control plane, the real Helm 2 and its Tiller on
loopback, running as the ServiceAccount kube-system/tiller with deploy/rbac/helm2-tiller.yaml's rights and
storing releases as ConfigMaps in kube-system), as an operator runs it; then a re-run that changes nothing."""
from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import ROOT, ObservedSandbox, attachment_names, released, run_suite
from tests.real_tools import real_tool

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory):
    """A Helm 2 sandbox upgraded once by the suite; the run and the sandbox are kept for the tests."""
    base = tmp_path_factory.mktemp("full")
    with ObservedSandbox(base / "sandbox") as sb:
        sb.tiller_before, sb.listed_before = _tiller_records(sb), _helm_list(sb)  # the 0.8 state
        before = len(sb.helm_calls())  # that `helm list` is logged too
        run = run_suite(base, "suites/", "--env", str(sb.env_file), "--allow-upgrade-in-ci")
        run.helm_calls = sb.helm_calls()[before:]  # this run's, before later tests run more on the sandbox
        yield sb, run, base


def _helm(sb, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(sb.dir / "bin" / "helm"), *args], capture_output=True, text=True, timeout=60)


def _helm_list(sb) -> dict[str, tuple[str, str]]:
    """`helm list`: release -> (chart-version, namespace)."""
    listed = json.loads(_helm(sb, "list", "--output", "json").stdout)["Releases"]
    return {r["Name"]: (r["Chart"], r["Namespace"]) for r in listed}


def _tiller_records(sb) -> dict[str, list[tuple[int, str]]]:
    """Tiller's release ConfigMaps in kube-system: release -> [(revision, STATUS)], by revision."""
    _, found = sb.api("/api/v1/namespaces/kube-system/configmaps?labelSelector=OWNER%3DTILLER")
    records: dict[str, list[tuple[int, str]]] = {}
    for item in found["items"]:
        labels = item["metadata"]["labels"]
        records.setdefault(labels["NAME"], []).append((int(labels["VERSION"]), labels["STATUS"]))
    return {name: sorted(revisions) for name, revisions in records.items()}


def test_the_sandbox_runs_the_real_helm_2_and_its_tiller_as_the_tiller_service_account(upgraded):
    sb, _run, _ = upgraded
    env = sb.env_data()
    assert env["helm"]["dialect"] == 2 and env["helm"]["binary"] == str(sb.dir / "bin" / "helm")
    version = _helm(sb, "version", "--short")
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["Client:", "v2.17.0+ga690bad", "Server:", "v2.17.0+ga690bad"]
    assert json.loads((sb.dir / "sandbox.json").read_text())["tiller_host"].startswith("127.0.0.1:")
    tiller_config = yaml.safe_load((sb.dir / "tiller" / "kubeconfig").read_text())
    assert tiller_config["current-context"] == "tiller"
    # Tiller's kubeconfig holds its own token, none of the sandbox's other identities (cluster-admin)
    for config in (tiller_config, yaml.safe_load((sb.dir / "tiller" / "source.kubeconfig").read_text())):
        assert [u["name"] for u in config["users"]] == ["tiller"]
    # before the run, every 0.8 release was a Helm 2 release Tiller stored: revision 1, DEPLOYED, its 0.8 chart
    steps = [s for s in PLAN.steps if s.from_version]
    assert sb.tiller_before == {s.release: [(1, "DEPLOYED")] for s in steps}
    assert sb.listed_before == {s.release: (f"{s.chart}-{s.from_version}", PLAN.namespace) for s in steps}


def test_tillers_identity_is_refused_outside_its_rbac_file(upgraded):
    """Tiller acts with the ServiceAccount's token: what helm2-tiller.yaml does not grant is refused."""
    sb, _run, _ = upgraded
    for verb, resource, namespace, allowed in (("create", "deployments.apps", PLAN.namespace, "yes"),
                                               ("create", "configmaps", "kube-system", "yes"),
                                               ("create", "deployments.apps", "default", "no"),
                                               ("list", "secrets", "kube-system", "no")):
        can = subprocess.run(["kubectl", "--kubeconfig", str(sb.dir / "tiller" / "kubeconfig"), "auth", "can-i",
                              verb, resource, "-n", namespace], capture_output=True, text=True, timeout=30)
        assert can.stdout.strip() == allowed, (verb, resource, namespace, can.stdout, can.stderr)


def test_the_whole_suite_passes(upgraded):
    _sb, run, _ = upgraded
    outcomes = run.outcomes()
    assert run.exit_code == 0, run.output[-3000:]
    assert not [k for k, v in outcomes.items() if v == "failed"]
    # every upgrade-phase and post-upgrade test ran and passed (none skipped)
    for phase in ("suites/upgrade", "suites/post_upgrade"):
        ran = {k: v for k, v in outcomes.items() if phase in k}
        assert ran and all(v == "passed" for v in ran.values()), {k: v for k, v in ran.items() if v != "passed"}


def test_a_successful_run_says_so_and_lists_what_it_could_not_verify(upgraded):
    """The outcome for the whole plan, each step observed, and the XWiki steps the suite cannot check."""
    sb, run, _ = upgraded
    flat = run.flat_output()
    assert f"Outcome: UPGRADED: all {len(PLAN.steps)} steps done and observed" in flat
    assert "[04] iam-service upgraded: 1 pod(s) observed Ready and UP on 0.9.0" in flat
    assert run.outcome()["outcome"] == "upgraded"
    assert f"XWiki steps 4–6 on {sb.env_data()['xwiki']['host']}: import Choerodon-wiki-0.9.0-update.xar" in flat
    assert "delete /bin/view/ConfluenceTest" in flat and "restart XWiki" in flat
    assert "Next: share this run's report (one HTML file) with the command below." in flat
    assert f"  $ ./run python -m c7n_upgrade.share --run {run.run_dir.name}" in run.output.splitlines()


def test_helm_writes_follow_the_guide_order(upgraded):
    sb, _run, _ = upgraded
    writes = sb.writes()
    released = [argv[1] if argv[0] == "upgrade" else argv[argv.index("--name") + 1] for argv in writes]
    assert released == [s.release for s in PLAN.steps]
    kinds = {argv[1] if argv[0] == "upgrade" else argv[argv.index("--name") + 1]: argv[0] for argv in writes}
    assert kinds["notify-service"] == "install" and kinds["asgard-service"] == "install"
    assert kinds["register-server"] == "upgrade"
    for argv in writes:
        assert "--version" in argv
        release = argv[1] if argv[0] == "upgrade" else argv[argv.index("--name") + 1]
        assert argv[argv.index("--version") + 1] == PLAN.step(release).version


def test_helm_2s_forms_and_tillers_records(upgraded):
    """Helm 2's install form and Tiller namespace flag; each release's last revision DEPLOYED, those before
    SUPERSEDED; the stored Release (base64 of gzip of its protobuf) names the target chart."""
    sb, run, _ = upgraded
    writes = [c["argv"] for c in run.helm_calls if c["argv"][:1] in (["upgrade"], ["install"])]
    installs = [argv for argv in writes if argv[0] == "install"]
    assert installs and all("--name" in argv and "--tiller-namespace" in argv for argv in installs)
    assert all("-n" not in argv for argv in writes) and [released(a) for a in writes] == [s.release for s in PLAN.steps]
    records = _tiller_records(sb)
    for step in PLAN.steps:
        statuses = [status for _, status in records[step.release]]
        assert statuses[-1] == "DEPLOYED" and set(statuses[:-1]) <= {"SUPERSEDED"}, (step.release, statuses)
    assert _helm_list(sb) == {s.release: (f"{s.chart}-{s.version}", PLAN.namespace) for s in PLAN.steps}
    step = PLAN.steps[1]
    _, item = sb.api(f"/api/v1/namespaces/kube-system/configmaps/{step.release}.v{max(records[step.release])[0]}")
    payload = gzip.decompress(base64.b64decode(item["data"]["release"]))
    assert step.chart.encode() in payload and step.version.encode() in payload


def test_the_run_lists_the_namespace_once_and_each_step_only_its_release(upgraded):
    """One `helm list` of the namespace for the whole run (pre-flight, every step, the proof); a step lists
    only its own release again, before and after its helm call."""
    _sb, run, _ = upgraded
    lists = [c["argv"] for c in run.helm_calls if c["argv"][0] == "list"]
    whole = [a for a in lists if not a[1].startswith("^")]
    assert len(whole) == 1, whole
    filtered = sorted(a[1] for a in lists if a[1].startswith("^"))
    assert filtered == sorted(f"^{re.escape(s.release)}$" for s in PLAN.steps for _ in range(2))


def test_no_secret_on_any_helm_command_line_and_values_files_removed(upgraded):
    sb, _run, _ = upgraded
    secrets = list(sb.secrets().values())
    for call in sb.helm_calls():
        line = " ".join(call["argv"])
        assert "--set" not in call["argv"] and "--set-string" not in call["argv"]
        for secret in secrets:
            assert secret not in line
        for i, arg in enumerate(call["argv"]):
            if arg in ("-f", "--values"):
                assert not Path(call["argv"][i + 1]).exists(), "values file left behind"


def test_mysql_state_after_the_upgrade(upgraded):
    sb, _run, _ = upgraded
    dbs = sb.databases()
    assert {"notify_service", "asgard_service", "manager_service", "devops_service"} <= dbs
    with sb.mysql() as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS FOR 'choerodon'@'%'")
        grants = " ".join(row[0] for row in cur.fetchall())
        cur.execute("SELECT log FROM devops_service.devops_check_log ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
        cur.execute("SELECT authorized_grant_types, web_server_redirect_uri FROM iam_service.oauth_client "
                    "WHERE name = 'choerodon'")
        client = cur.fetchone()
    assert "`notify_service`.*" in grants and "`asgard_service`.*" in grants
    assert row is not None and json.loads(row[0])
    assert client is not None and "authorization_code" in client[0]
    assert client[1] == sb.env_data()["front_url"]


def test_allure_results_are_the_upgrade_log(upgraded):
    sb, run, _ = upgraded
    results = run.allure_results()
    upgrade = [r for r in results if any(l["name"] == "feature" and l["value"] == "2 upgrade" for l in r["labels"])]
    assert len({r["name"] for r in upgrade}) >= len(PLAN.steps)
    for r in upgrade:
        names = {l["name"] for l in r["labels"]}
        assert {"epic", "feature", "story", "as_id"} <= names, (r["name"], names)
    ids = [l["value"] for r in results for l in r["labels"] if l["name"] == "as_id"]
    assert len(ids) == len(results), "every result has a stable id"
    assert len(ids) == len(set(ids)), "stable ids must be unique"
    assert "upgrade.01-register-server.test_upgrade" in ids
    titles = [r["name"] for r in upgrade]
    assert any(re.search(r"Upgrade register-server 0\.8\.0 → 0\.9\.0", t) for t in titles), titles
    assert any(r.get("links") for r in upgrade)
    files = {p.name for p in run.alluredir.iterdir()}
    assert "categories.json" in files and "environment.properties" in files
    assert "namespace=choerodon-devops-prod\n" in _names_the_server_version(run, sb)
    attachments = " ".join(p.name for p in run.alluredir.glob("*-attachment*"))
    assert attachments, "no attachments written"
    # every step's helm command and values diff is attached
    names = attachment_names(run)
    assert "helm register-server" in names and "values diff register-server" in names
    assert "SQL notify_service" in names



def _names_the_server_version(run, sb) -> str:
    """The run's environment.properties, which names the API server's version as the server says it."""
    env = (run.alluredir / "environment.properties").read_text()
    status, version = sb.api("/version")  # the real API server's own word, not the suite's
    assert status == 200 and version["gitVersion"].startswith("v1.34.")
    assert f"kubernetes.version={version['gitVersion']}\n" in env, env
    return env


def test_secrets_appear_nowhere_in_output_or_report(upgraded):
    sb, run, _ = upgraded
    text = run.all_text()
    for name, secret in sb.secrets().items():
        assert secret not in text, f"{name} leaked"
    assert "<hidden " in text  # the values shown hid what the allowlist does not show (passwords among them)
    # a credential only the release's values hold (not the env) is masked too
    values = subprocess.run([str(sb.dir / "bin" / "helm"), "get", "values", "gitlab-service", "--output", "json"],
                            capture_output=True, text=True, check=True).stdout
    token = json.loads(values)["env"]["open"]["GITLAB_PRIVATETOKEN"]
    assert len(token) >= 16 and token not in text


def test_rerun_is_a_resume_with_no_helm_write_and_one_mysql_admin_login(upgraded):
    """The re-run logs in as an admin of the test's own, which only the run uses: the server counts one
    login for the whole run (pre-flight, every step, the smooth upgrade), plus one per database dumped
    (mariadb-dump is a program of its own)."""
    sb, _run, base = upgraded
    password = sb.add_user("suite_admin", "ALL PRIVILEGES ON *.* TO {who} WITH GRANT OPTION")
    env = sb.env_with("env-own-admin", mysql={"admin_user": "suite_admin", "admin_password": "${C7N_OWN_ADMIN}"})
    assert sb.connections_of("suite_admin") == 0
    before = len(sb.writes())
    rerun = run_suite(base, "suites/", "--env", str(env), "--allow-upgrade-in-ci",
                      env_extra={"C7N_OWN_ADMIN": password})
    assert rerun.exit_code == 0, rerun.output[-3000:]
    assert len(sb.writes()) == before, "a re-run of a finished upgrade must not call helm upgrade/install"
    assert "already at 0.9.0" in rerun.all_text()
    dumps = (rerun.run_dir / "db-backup" / "SHA256SUMS").read_text().splitlines()
    assert len(dumps) >= 4 and sb.connections_of("suite_admin") == 1 + len(dumps)


def test_the_read_only_proof_logs_in_to_mysql_once(upgraded):
    """`pytest suites/post_upgrade` as a services' user of the test's own: one login for every check
    (each database's grant and USE, the smooth-upgrade log), counted by the server."""
    sb, _run, base = upgraded
    password = sb.add_user("proof_user", "ALL PRIVILEGES ON `notify_service`.* TO {who}",
                           "ALL PRIVILEGES ON `asgard_service`.* TO {who}", "SELECT ON `devops_service`.* TO {who}")
    env = sb.env_with("env-own-user", mysql={"user": "proof_user", "password": "${C7N_OWN_USER}"})
    assert sb.connections_of("proof_user") == 0
    run = run_suite(base, "suites/post_upgrade", "--env", str(env), env_extra={"C7N_OWN_USER": password})
    assert run.exit_code == 0, run.output[-3000:]
    checks = run.by_test("test_03_databases.py") | run.by_test("test_smooth_upgrade_logged")
    assert len(checks) == 1 + len([s for s in PLAN.steps if s.database])
    assert set(checks.values()) == {"passed"}, checks
    assert sb.connections_of("proof_user") == 1
    _names_the_server_version(run, sb)  # without pre-flight: the up-front check records it


def test_access_proxy_stops_before_the_first_test_naming_the_refused_address(upgraded):
    """access: proxy on the real sandbox: its API server never proxies to the pods' loopback IPs, so the run
    stops before its first test with that one cause (docs/sandbox.md), not one failure per probe."""
    sb, _run, base = upgraded
    env = sb.env_with("env-proxy", access="proxy")
    run = run_suite(base, "suites/post_upgrade", "--env", str(env))
    assert run.exit_code == 4, run.output[-3000:]
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "'address not allowed'" in errors[0] and "access: proxy cannot" in errors[0], \
        run.output[-3000:]
    assert f"Next: set access: direct in {env}" in run.flat_output()
    assert "Traceback" not in run.output and not run.junit.exists()  # stopped before collecting: no test ran


def test_the_read_only_proof_needs_no_mysql_root_password_and_no_front_client_secret(upgraded):
    """The CI proof with only the three secrets it reads with: MySQL as the services' user, the platform token."""
    sb, _run, base = upgraded
    env = sb.env_with("env-read-only", secrets_file=None)
    secrets = sb.secrets()
    given = {name: secrets[name] for name in ("C7N_MYSQL_PASSWORD", "C7N_ADMIN_PASSWORD", "C7N_OAUTH_CLIENT_SECRET")}
    assert not {"C7N_MYSQL_ROOT_PASSWORD", "C7N_FRONT_CLIENT_SECRET"} & set(os.environ)  # the runs get neither
    run = run_suite(base, "suites/post_upgrade", "--env", str(env), env_extra=given)
    assert run.exit_code == 0, run.output[-3000:]
    post = run.by_test("suites/post_upgrade")
    assert post and all(v == "passed" for v in post.values()), post
    assert "suites/post_upgrade/test_03_databases.py::test_database_and_grant[notify_service]" in post
    # and the whole upgrade still refuses to start without them, naming both
    writes = len(sb.writes())
    refused = run_suite(base, "suites/", "--env", str(env), "--allow-upgrade-in-ci", env_extra=given)
    assert refused.exit_code == 4 and len(sb.writes()) == writes
    assert "C7N_MYSQL_ROOT_PASSWORD (key 'mysql.admin_password'), C7N_FRONT_CLIENT_SECRET" in refused.output
    assert "Next: export each of them" in refused.output


def test_a_stated_helm_dialect_asks_helm_no_version_and_a_wrong_one_is_one_cause(upgraded):
    """helm.dialect: 2 (this sandbox's helm): the proof passes with no `helm version` call in helm-calls.jsonl;
    helm.dialect: 3 against it: one failure naming both dialects, the rest not run."""
    sb, _run, base = upgraded
    before = len(sb.helm_calls())
    run = run_suite(base, "suites/post_upgrade", "--env", str(sb.env_with("env-dialect", helm={"dialect": 2})))
    assert run.exit_code == 0, run.output[-3000:]
    calls = [c["argv"] for c in sb.helm_calls()[before:]]
    assert calls and [a for a in calls if a[0] == "list"] and not [a for a in calls if a[0] == "version"], calls
    wrong = run_suite(base, "suites/post_upgrade", "--env", str(sb.env_with("env-dialect-3", helm={"dialect": 3})))
    assert wrong.exit_code == 1
    outcomes = wrong.outcomes()
    assert len([v for v in outcomes.values() if v == "failed"]) == 1, outcomes
    assert "the env states helm.dialect: 3, but" in wrong.output and "answers as Helm 2" in wrong.output
    assert "Next: make helm.dialect in" in wrong.flat_output() and "Traceback" not in wrong.output


def test_gitlab_ci_example_passes_under_gitlab_ci_local(upgraded, tmp_path):
    """examples/gitlab-ci.yml as a project would use it, run by gitlab-ci-local (shell executor) against
    the upgraded sandbox: envs/prod.yaml names the cluster, the secrets and the kubeconfig are CI variables."""
    sb, _run, _ = upgraded
    project = tmp_path / "project"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        target = project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (project / ".venv").symlink_to(ROOT / ".venv")  # ./run finds its venv set up, installs nothing
    shipped = yaml.safe_load((ROOT / "envs" / "prod.yaml").read_text(encoding="utf-8"))
    # the shipped template with the sandbox's addresses; its kube section (no kubeconfig: $KUBECONFIG) as shipped
    addresses = {k: v for k, v in sb.env_data().items() if k not in ("sandbox", "secrets_file", "name", "kube")}
    prod = {**shipped, **addresses}
    assert prod["kube"] == shipped["kube"] and prod["name"] == "prod"
    (project / "envs" / "prod.yaml").write_text(yaml.safe_dump(prod, sort_keys=False))
    secrets = sb.secrets()
    ci_secrets = {name: secrets[name] for name in ("C7N_MYSQL_PASSWORD", "C7N_ADMIN_PASSWORD", "C7N_OAUTH_CLIENT_SECRET")}
    variables = project / ".gitlab-ci-local-variables.yml"  # as the example lists them: no MySQL root password
    variables.write_text(yaml.safe_dump({**ci_secrets, "KUBECONFIG_PROD": str(sb.dir / "kubeconfig")}))
    variables.chmod(0o600)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "project"],
                 ["remote", "add", "origin", "https://gitlab.example.invalid/ops/choerodon-upgrade.git"]):
        subprocess.run(git + args, cwd=project, check=True, capture_output=True)
    job = subprocess.run([str(real_tool("gitlab-ci-local")), "--file", "examples/gitlab-ci.yml",
                          "--force-shell-executor", "--variable", "CI_PIPELINE_SOURCE=web",
                          "--ignore-predefined-vars", "CI_PIPELINE_SOURCE",
                          "--variable", f"C7N_TOOLS_DIR={ROOT / '.tools'}"],
                         cwd=project, capture_output=True, text=True, timeout=600)
    output = job.stdout + job.stderr
    assert job.returncode == 0, output[-4000:]
    assert "PASS  post-upgrade-checks" in output and "PASS  pages" in output
    assert re.search(r"> =+ \d+ passed in ", output), output[-4000:]  # pytest's last line: nothing failed
    assert (project / "public" / "index.html").read_text().startswith("<!DOCTYPE html>")
    for name, secret in sb.secrets().items():
        assert secret not in output, f"{name} appeared in the job's output"
