"""The sandbox `helm` executable, run as a subprocess against a real ApiServer + Store, in both dialects
(tests/sandbox/helm_harness.py): install and upgrade, and what it refuses.

Layouts are compared with helm's own golden outputs (tests/golden/helm-v3.19.5, copied from helm v3.19.5);
Helm 2 shapes come from shared/reference/helm-cli-contract.md.
"""
import base64
import gzip
import json

from c7n_upgrade.sandbox import faults
from tests.helm_golden import golden
from tests.sandbox.helm_harness import NS, block_keys, sandbox, sandbox3  # noqa: F401 (fixtures)


# --- install / upgrade ---------------------------------------------------------------------

def test_install_then_upgrade_changes_deployment_and_storage(sandbox):
    installed = sandbox.install("config-server", "config-server", "0.8.0", ok=True).stdout
    deployment = sandbox.api.get("deployments.apps", NS, "config-server")
    assert deployment["spec"]["template"]["metadata"]["labels"]["choerodon.io/version"] == "0.8.0"
    cluster_ip = sandbox.api.get("services", NS, "config-server")["spec"].get("clusterIP")

    upgraded = sandbox.upgrade("config-server", "config-server", "0.9.0", ok=True).stdout
    deployment = sandbox.api.get("deployments.apps", NS, "config-server")
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"]["choerodon.io/version"] == "0.9.0"
    assert template["spec"]["containers"][0]["image"].endswith("/config-server:0.9.0")
    assert sandbox.api.get("services", NS, "config-server")["spec"].get("clusterIP") == cluster_ip

    objs = {o["metadata"]["name"]: o for o in sandbox.release_objects("config-server")}
    if sandbox.dialect == 3:
        assert set(objs) == {"sh.helm.release.v1.config-server.v1", "sh.helm.release.v1.config-server.v2"}
        v1, v2 = objs["sh.helm.release.v1.config-server.v1"], objs["sh.helm.release.v1.config-server.v2"]
        assert v2["type"] == "helm.sh/release.v1"
        assert {k: v2["metadata"]["labels"][k] for k in ("owner", "name", "status", "version")} == \
            {"owner": "helm", "name": "config-server", "status": "deployed", "version": "2"}
        assert v1["metadata"]["labels"]["status"] == "superseded"
        payload = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(v2["data"]["release"]))))
        assert payload["info"]["status"] == "deployed" and payload["version"] == 2
        assert payload["chart"]["metadata"]["version"] == "0.9.0"
        # output: golden upgrade.txt / install.txt layout
        assert block_keys(upgraded) == block_keys(golden("upgrade.txt"))
        assert upgraded.splitlines()[0] == 'Release "config-server" has been upgraded. Happy Helming!'
        assert block_keys(installed) == block_keys(golden("install.txt"))
        assert "REVISION: 2" in upgraded and "STATUS: deployed" in upgraded
    else:
        assert set(objs) == {"config-server.v1", "config-server.v2"}
        v1, v2 = objs["config-server.v1"], objs["config-server.v2"]
        assert v2["metadata"]["namespace"] == "kube-system"
        assert {k: v2["metadata"]["labels"][k] for k in ("OWNER", "NAME", "STATUS", "VERSION")} == \
            {"OWNER": "TILLER", "NAME": "config-server", "STATUS": "DEPLOYED", "VERSION": "2"}
        assert v1["metadata"]["labels"]["STATUS"] == "SUPERSEDED"
        payload = json.loads(gzip.decompress(base64.b64decode(v2["data"]["release"])))
        assert payload["info"]["status"]["code"] == 1 and payload["version"] == 2
        assert upgraded.splitlines()[0] == 'Release "config-server" has been upgraded.'
        assert installed.startswith("NAME:   config-server\n")
        assert "STATUS: DEPLOYED" in upgraded


def test_upgrade_install_creates_missing_release(sandbox):
    out = sandbox.upgrade("notify-service", "notify-service", "0.9.0", "--install", ok=True).stdout
    assert out.splitlines()[0] == 'Release "notify-service" does not exist. Installing it now.'
    if sandbox.dialect == 3:
        assert block_keys(out) == block_keys(golden("upgrade-uninstalled-with-keep-history.txt"))
    jobs = {j["metadata"]["name"]: j for j in sandbox.api.list("jobs.batch", NS)}
    assert set(jobs) == {"notify-service-init-db", "notify-service-init-config"}
    job = jobs["notify-service-init-db"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["status"]["succeeded"] == 1
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])


def test_dry_run_changes_nothing(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    before = sandbox.api.get("deployments.apps", NS, "config-server")
    sandbox.upgrade("config-server", "config-server", "0.9.0", "--dry-run", ok=True)
    after = sandbox.api.get("deployments.apps", NS, "config-server")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert len(sandbox.release_objects("config-server")) == 1


def test_values_files_layer_and_set_escapes(sandbox, tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("env:\n  open:\n    A: one\n    B: one\nreplicaCount: 1\n")
    second.write_text("env:\n  open:\n    B: two\n")
    sandbox.install("config-server", "config-server", "0.8.0", "-f", str(first), "--values", str(second),
                    "--set", r"list=a\,b,flag=true,n=3,nothing=null,dotted.key=x", "--set-string", "s=5",
                    "--set", r"escaped\.key=y", ok=True)
    args = ["get", "values", "config-server", "--output" if sandbox.dialect == 2 else "-o", "json"]
    values = json.loads(sandbox.helm(*args, ok=True).stdout)
    assert values["env"]["open"] == {"A": "one", "B": "two"}
    assert values["list"] == "a,b" and values["flag"] is True and values["n"] == 3 and values["s"] == "5"
    assert values["nothing"] is None and values["dotted"] == {"key": "x"} and values["escaped.key"] == "y"
    env = sandbox.api.get("deployments.apps", NS, "config-server")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "B", "value": "two"} in env
    # the helm log holds the file paths, never the file contents
    log = (sandbox.dir / "helm-calls.jsonl").read_text()
    assert str(first) in log and "one" not in log


def test_upgrade_without_values_keeps_current_values(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", "--set", "keep=me", ok=True)
    sandbox.upgrade("config-server", "config-server", "0.9.0", ok=True)
    out = sandbox.helm("get", "values", "config-server", ok=True).stdout
    assert "keep: me" in out


def test_wait_times_out_without_ready_pods(sandbox3):
    # no runtime here, so no pod ever becomes Ready: --wait must give up after --timeout
    sandbox3.install("config-server", "config-server", "0.8.0", ok=True)
    result = sandbox3.upgrade("config-server", "config-server", "0.9.0", "--wait", "--timeout", "1s", ok=False)
    assert result.stderr == "Error: UPGRADE FAILED: timed out waiting for the condition\n"
    statuses = {o["metadata"]["labels"]["version"]: o["metadata"]["labels"]["status"]
                for o in sandbox3.release_objects("config-server")}
    assert statuses == {"1": "deployed", "2": "failed"}


# --- refusals ------------------------------------------------------------------------------

def test_unknown_chart_version(sandbox):
    result = sandbox.install("config-server", "config-server", "9.9.9", ok=False)
    assert result.stderr == 'Error: failed to download "c7n/config-server" (hint: running `helm repo update` may help)\n'
    assert sandbox.release_objects("config-server") == []


def test_install_over_existing_name(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    result = sandbox.install("config-server", "config-server", "0.9.0", ok=False)
    assert result.stderr == ("Error: INSTALLATION FAILED: cannot re-use a name that is still in use\n"
                             if sandbox.dialect == 3 else "Error: a release named config-server already exists.\n")


def test_upgrade_missing_release(sandbox):
    result = sandbox.upgrade("funny-bunny", "config-server", "0.9.0", ok=False)
    if sandbox.dialect == 3:
        assert result.stderr == golden("upgrade-with-bad-or-missing-existing-release.txt")
    else:
        assert result.stderr == 'Error: UPGRADE FAILED: "funny-bunny" has no deployed releases\n'


def test_leftover_hook_job_refuses_upgrade(sandbox):
    sandbox.install("manager-service", "manager-service", "0.8.0", ok=True)   # hook Jobs stay (no delete policy)
    assert {j["metadata"]["name"] for j in sandbox.api.list("jobs.batch", NS)} == {"manager-service-init-db"}
    result = sandbox.upgrade("manager-service", "manager-service", "0.9.0", ok=False)
    if sandbox.dialect == 3:
        assert result.stderr == ('Error: UPGRADE FAILED: pre-upgrade hooks failed: warning: Hook pre-upgrade '
                                 'manager-service/templates/pre-config-db.yaml failed: '
                                 'jobs.batch "manager-service-init-db" already exists\n')
    else:
        assert result.stderr.startswith("Error: UPGRADE FAILED: ")
        assert 'jobs.batch "manager-service-init-db" already exists' in result.stderr
    deployment = sandbox.api.get("deployments.apps", NS, "manager-service")
    assert deployment["spec"]["template"]["metadata"]["labels"]["choerodon.io/version"] == "0.8.0"
    # after removing the leftover Job (what the suite does), the upgrade goes through
    sandbox.api.delete("jobs.batch", NS, "manager-service-init-db")
    sandbox.upgrade("manager-service", "manager-service", "0.9.0", ok=True)
    deployment = sandbox.api.get("deployments.apps", NS, "manager-service")
    assert deployment["spec"]["template"]["metadata"]["labels"]["choerodon.io/version"] == "0.9.0"


def test_helm_fail_fault(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    faults.set_fault(sandbox.dir, "config-server", "helm-fail")
    result = sandbox.upgrade("config-server", "config-server", "0.9.0", ok=False)
    assert result.stderr == "Error: UPGRADE FAILED: timed out waiting for the condition\n"
    # as real helm does, the attempt is recorded as a failed revision; the deployed one stays
    records = sandbox.release_objects("config-server")
    assert len(records) == 2
    statuses = sorted((r["metadata"]["labels"].get("status") or r["metadata"]["labels"].get("STATUS")).lower()
                      for r in records)
    assert statuses == ["deployed", "failed"]
    deployment = sandbox.api.get("deployments.apps", NS, "config-server")
    assert deployment["spec"]["template"]["metadata"]["labels"]["choerodon.io/version"] == "0.8.0"
    faults.clear_fault(sandbox.dir, "config-server")
    sandbox.upgrade("config-server", "config-server", "0.9.0", ok=True)


def test_flag_traps_and_timeouts(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    if sandbox.dialect == 3:
        bad = sandbox.upgrade("config-server", "config-server", "0.9.0", "--timeout", "300", ok=False)
        assert 'time: missing unit in duration "300"' in bad.stderr
        sandbox.upgrade("config-server", "config-server", "0.9.0", "--timeout", "5m", "--wait=false", ok=True)
        # `--dry-run client` leaves `client` as a third positional argument
        trap = sandbox.upgrade("config-server", "config-server", "0.9.0", "--dry-run", "client", ok=False)
        assert trap.stderr.startswith('Error: "helm upgrade" requires 2 arguments')
    else:
        bad = sandbox.upgrade("config-server", "config-server", "0.9.0", "--timeout", "5m", ok=False)
        assert 'invalid argument "5m" for "--timeout" flag' in bad.stderr
        sandbox.upgrade("config-server", "config-server", "0.9.0", "--timeout", "300", ok=True)
    assert sandbox.helm("list", "--bogus", ok=False).stderr == "Error: unknown flag: --bogus\n"


def test_kube_context_must_exist(sandbox):
    result = sandbox.helm("list", "--kube-context", "nope", ok=False)
    assert 'context "nope" does not exist' in result.stderr
    sandbox.helm("list", "--kube-context", "sandbox", "--kubeconfig", str(sandbox.dir / "kubeconfig"), ok=True)


def test_calls_log_one_line_per_call(sandbox):
    sandbox.helm("version", "--short")
    sandbox.helm("status", "missing")
    calls = sandbox.calls()
    assert calls[0]["argv"] == ["repo", "add", "c7n", sandbox.repo_url] and calls[0]["exit"] == 0
    assert calls[-2]["argv"] == ["version", "--short"] and calls[-2]["exit"] == 0
    assert calls[-1] == {"argv": ["status", "missing"], "exit": 1, "time": calls[-1]["time"]}
    assert isinstance(calls[-1]["time"], float) and calls[-1]["time"] >= calls[0]["time"]
