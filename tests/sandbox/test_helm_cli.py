"""The sandbox `helm` executable, run as a subprocess against a real ApiServer + Store, in both dialects.

Layouts are compared with helm's own golden outputs (tests/golden/helm-v3.19.5, copied from helm v3.19.5);
Helm 2 shapes come from shared/reference/helm-cli-contract.md.
"""
import base64
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import charts, faults
from c7n_upgrade.sandbox.helm.engine import install_release
from c7n_upgrade.sandbox.helm.errors import HelmCliError
from c7n_upgrade.sandbox.helm.flags import go_duration_seconds
from c7n_upgrade.sandbox.helm.strvals import parse_set
from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from c7n_upgrade.sandbox.kubeapi import KubeApi, KubeApiError
from tests.helm_golden import golden

ROOT = Path(__file__).resolve().parents[2]
NS = "choerodon-devops-prod"
PLAN = load_plan("0.8-to-0.9")


class HelmHarness:
    """An API server with the c7n chart repo and a sandbox dir, and the sandbox helm run against them."""

    def __init__(self, tmp_path: Path, dialect: int):
        self.dir, self.dialect = tmp_path, dialect
        self.store = Store()
        self.server = ApiServer(self.store)
        self.url = self.server.start()
        self.server.mount("/charts/", charts.repo_handler(charts.catalogue(PLAN)))
        self.repo_url = self.url + "/charts/"
        write_kubeconfig(str(tmp_path / "kubeconfig"), self.url, NS)
        (tmp_path / "sandbox.json").write_text(json.dumps({
            "api_url": self.url, "namespace": NS, "helm_dialect": dialect, "chart_repo_url": self.repo_url,
            "plan": str(ROOT / "plans" / "0.8-to-0.9.yaml"), "tiller_namespace": "kube-system"}))
        self.api = KubeApi(self.url)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "KUBECONFIG", "TILLER"))}
        self.env.update(C7N_SANDBOX_DIR=str(tmp_path), PYTHONPATH=str(ROOT))

    def helm(self, *args, ok=None):
        result = subprocess.run([sys.executable, "-m", "c7n_upgrade.sandbox.helm", *args], env=self.env,
                                capture_output=True, text=True, timeout=60, cwd=self.dir)
        if ok is True:
            assert result.returncode == 0, f"helm {args}: {result.stderr}"
        if ok is False:
            assert result.returncode == 1, f"helm {args} should fail: {result.stdout}"
        return result

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in (self.dir / "helm-calls.jsonl").read_text().splitlines()]

    def install(self, release, chart, version, *extra, ok=None):
        if self.dialect == 2:
            return self.helm("install", f"c7n/{chart}", "--name", release, "--namespace", NS, "--version", version,
                             *extra, ok=ok)
        return self.helm("install", release, f"c7n/{chart}", "-n", NS, "--version", version, *extra, ok=ok)

    def upgrade(self, release, chart, version, *extra, ok=None):
        ns = ["--namespace", NS] if self.dialect == 2 else ["-n", NS]
        return self.helm("upgrade", release, f"c7n/{chart}", "--version", version, *ns, *extra, ok=ok)

    def release_objects(self, release):
        if self.dialect == 3:
            return self.api.list("secrets", NS, f"owner=helm,name={release}")
        return self.api.list("configmaps", "kube-system", f"OWNER=TILLER,NAME={release}")


@pytest.fixture(params=[2, 3], ids=["helm2", "helm3"])
def sandbox(request, tmp_path):
    box = HelmHarness(tmp_path, request.param)
    box.helm("repo", "add", "c7n", box.repo_url, ok=True)
    yield box
    box.server.stop()


@pytest.fixture
def sandbox3(tmp_path):
    box = HelmHarness(tmp_path, 3)
    box.helm("repo", "add", "c7n", box.repo_url, ok=True)
    yield box
    box.server.stop()


# --- layout helpers ---------------------------------------------------------------------------
def table_shape(text: str) -> tuple[list[str], int]:
    """(header cells, column count) of a uitable, checking every column is padded to one width."""
    lines = text.rstrip("\n").split("\n")
    rows = [line.split("\t") for line in lines]
    ncols = len(rows[0])
    assert all(len(r) == ncols for r in rows), text
    for col in range(ncols):
        assert len({len(r[col]) for r in rows}) == 1, f"column {col} not padded evenly:\n{text}"
    return [c.strip() for c in rows[0]], ncols


def block_keys(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines() if re.match(r"^[A-Z][A-Z ]+:", line)]


# --- version / repo / search ------------------------------------------------------------------
def test_version(sandbox):
    if sandbox.dialect == 2:
        assert sandbox.helm("version", "--short", "--client", ok=True).stdout == "Client: v2.17.0+ga690bad\n"
        lines = sandbox.helm("version", ok=True).stdout.splitlines()
        assert [l.split(":")[0] for l in lines] == ["Client", "Server"]
    else:
        assert re.fullmatch(r"v3\.19\.5\+g[0-9a-f]{7}\n", sandbox.helm("version", "--short", ok=True).stdout)
        assert sandbox.helm("version", "--short", "--client", ok=True).stdout.startswith("v3.19.5+g")
        assert golden("version.txt").startswith("version.BuildInfo{Version:")
        assert sandbox.helm("version", ok=True).stdout.startswith('version.BuildInfo{Version:"v3.19.5"')


def test_repo_add_messages(sandbox3):
    again = sandbox3.helm("repo", "add", "c7n", sandbox3.repo_url, ok=True)
    assert again.stdout == golden("repo-add2.txt").replace("test-name", "c7n")
    fresh = sandbox3.helm("repo", "add", "other", sandbox3.repo_url, ok=True)
    assert fresh.stdout == golden("repo-add.txt").replace("test-name", "other")


def test_c7n_repo_is_preconfigured_like_a_08_bastion(tmp_path):
    box = HelmHarness(tmp_path, 3)
    try:
        assert box.helm("repo", "add", "c7n", box.repo_url, ok=True).stdout == \
            golden("repo-add2.txt").replace("test-name", "c7n")
        box.install("config-server", "config-server", "0.8.0", ok=True)
    finally:
        box.server.stop()


def test_repo_add_unreachable_fails_like_helm(sandbox):
    result = sandbox.helm("repo", "add", "dead", "http://127.0.0.1:1/charts/", ok=False)
    assert result.stderr.startswith("Error: ")
    assert "is not a valid chart repository or cannot be reached" in result.stderr
    assert "connection refused" in result.stderr


def test_repo_update(sandbox):
    out = sandbox.helm("repo", "update", ok=True).stdout
    assert '...Successfully got an update from the "c7n" chart repository' in out
    assert out.endswith("Update Complete. ⎈Happy Helming!⎈\n" if sandbox.dialect == 3 else "Update Complete.\n")


def test_search_table_layout_matches_golden(sandbox):
    ours = (sandbox.helm("search", "repo", "c7n/devops-service", "--versions", ok=True) if sandbox.dialect == 3
            else sandbox.helm("search", "c7n/devops-service", "-l", ok=True)).stdout
    want_header, want_cols = table_shape(golden("search-multiple-versions.txt"))
    header, cols = table_shape(ours)
    assert (header, cols) == (want_header, want_cols)
    versions = [line.split("\t")[1].strip() for line in ours.splitlines()[1:]]
    assert versions == ["0.9.3", "0.8.1"]


def test_search_json(sandbox):
    if sandbox.dialect == 3:
        items = json.loads(sandbox.helm("search", "repo", "c7n/wiki", "--versions", "-o", "json", ok=True).stdout)
        assert [set(i) for i in items] == [{"name", "version", "app_version", "description"}] * 2
        assert json.loads(sandbox.helm("search", "repo", "zzz", "-o", "json", ok=True).stdout) == []
    else:
        items = json.loads(sandbox.helm("search", "c7n/wiki", "-l", "--output", "json", ok=True).stdout)
        assert [set(i) for i in items] == [{"Name", "Version", "AppVersion", "Description"}] * 2
        assert sandbox.helm("search", "zzz", "--output", "json", ok=True).stdout == "null\n"
    assert items[0]["name" if sandbox.dialect == 3 else "Name"] == "c7n/wiki-service"


# --- install / upgrade ------------------------------------------------------------------------
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


# --- list / history / status / get values -----------------------------------------------------
def test_list_layouts(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    sandbox.install("iam-service", "iam-service", "0.8.0", "--no-hooks", ok=True)
    table = sandbox.helm("list", ok=True).stdout
    if sandbox.dialect == 3:
        assert table_shape(table) == table_shape(golden("list.txt"))
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", table.splitlines()[1].split("\t")[3])
        items = json.loads(sandbox.helm("list", "-o", "json", ok=True).stdout)
        golden_items = json.loads('[{"name":"a","namespace":"default","revision":"1","updated":"x",'
                                  '"status":"deployed","chart":"c-1","app_version":"1"}]')
        assert [list(i) for i in items] == [list(golden_items[0])] * 2
        assert items[0]["revision"] == "1" and items[0]["chart"] == "config-server-0.8.0"
        short = json.loads(sandbox.helm("list", "-q", "-o", "json", ok=True).stdout)
        assert short == ["config-server", "iam-service"]
        assert type(json.loads(golden("list-short-json.txt"))) is type(short)
        assert json.loads(sandbox.helm("list", "-f", "^iam", "-o", "json", ok=True).stdout)[0]["name"] == "iam-service"
        assert sandbox.helm("list", "-n", "default", "-o", "json", ok=True).stdout == "[]\n"
    else:
        header, _ = table_shape(table)
        assert header == ["NAME", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "NAMESPACE"]
        data = json.loads(sandbox.helm("list", "--output", "json", ok=True).stdout)
        assert list(data) == ["Next", "Releases"]
        assert list(data["Releases"][0]) == ["Name", "Revision", "Updated", "Status", "Chart", "AppVersion", "Namespace"]
        assert data["Releases"][0]["Revision"] == 1 and data["Releases"][0]["Status"] == "DEPLOYED"
        assert re.fullmatch(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", data["Releases"][0]["Updated"])
        assert sandbox.helm("list", "^nomatch$", "--output", "json", ok=True).stdout == ""
        # the v2 trap: -o is --offset, so `-o json` is no JSON request
        assert not sandbox.helm("list", "-o", "json").stdout.startswith("{")


def test_history_layouts(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    sandbox.upgrade("config-server", "config-server", "0.9.0", ok=True)
    table = sandbox.helm("history", "config-server", ok=True).stdout
    header, cols = table_shape(table)
    assert (header, cols) == table_shape(golden("history.txt"))[:1] + (6,)
    args = ["history", "config-server", "--output" if sandbox.dialect == 2 else "-o", "json"]
    items = json.loads(sandbox.helm(*args, ok=True).stdout)
    if sandbox.dialect == 3:
        assert [list(i) for i in items] == [list(json.loads(golden("history.json"))[0])] * 2
        assert [i["status"] for i in items] == ["superseded", "deployed"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", items[0]["updated"])
    else:
        assert [set(i) for i in items] == [{"revision", "updated", "status", "chart", "appVersion", "description"}] * 2
        assert [i["status"] for i in items] == ["SUPERSEDED", "DEPLOYED"]
    assert [i["revision"] for i in items] == [1, 2]


def test_status(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    text = sandbox.helm("status", "config-server", ok=True).stdout
    if sandbox.dialect == 3:
        assert block_keys(text) == block_keys(golden("status.txt"))
        data = json.loads(sandbox.helm("status", "config-server", "-o", "json", ok=True).stdout)
        want = json.loads(golden("status.json"))
        # `notes` is omitempty in helm; the c7n charts have no NOTES.txt
        assert set(want) <= set(data) and set(want["info"]) - {"notes"} <= set(data["info"])
        assert data["version"] == 1 and data["info"]["status"] == "deployed" and data["namespace"] == NS
        assert {"manifest", "version"} <= set(data)   # contract keys; `config` is omitempty (no user values)
    else:
        assert block_keys(text)[:3] == ["LAST DEPLOYED", "NAMESPACE", "STATUS"]
        data = json.loads(sandbox.helm("status", "config-server", "--output", "json", ok=True).stdout)
        assert data["info"]["status"]["code"] == 1 and "version" not in data and "revision" not in data
    missing = sandbox.helm("status", "nope", ok=False).stderr
    assert missing == ("Error: release: not found\n" if sandbox.dialect == 3 else 'Error: release: "nope" not found\n')


def test_get_values_forms(sandbox):
    sandbox.install("config-server", "config-server", "0.8.0", ok=True)
    sandbox.install("iam-service", "iam-service", "0.8.0", "--no-hooks", "--set", "name=value", ok=True)
    if sandbox.dialect == 3:
        assert sandbox.helm("get", "values", "iam-service", ok=True).stdout == golden("get-values.txt")
        assert sandbox.helm("get", "values", "iam-service", "-o", "yaml", ok=True).stdout == golden("values.yaml")
        assert sandbox.helm("get", "values", "iam-service", "-o", "json", ok=True).stdout == golden("values.json")
        assert sandbox.helm("get", "values", "config-server", ok=True).stdout == "USER-SUPPLIED VALUES:\nnull\n"
        assert sandbox.helm("get", "values", "config-server", "-o", "yaml", ok=True).stdout == "null\n"
        computed = sandbox.helm("get", "values", "iam-service", "--all", ok=True).stdout
        assert computed.startswith("COMPUTED VALUES:\n") and "replicaCount: 1" in computed
        args_err = sandbox.helm("get", "values", ok=False).stderr
        assert args_err == golden("get-values-args.txt")
    else:
        assert sandbox.helm("get", "values", "iam-service", ok=True).stdout == "name: value\n"
        assert sandbox.helm("get", "values", "iam-service", "--output", "json", ok=True).stdout == '{"name":"value"}\n'
        assert sandbox.helm("get", "values", "config-server", ok=True).stdout == "{}\n"
        assert "unknown shorthand flag: 'o'" in sandbox.helm("get", "values", "iam-service", "-o", "json", ok=False).stderr


# --- refusals ---------------------------------------------------------------------------------
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


# --- library entry points ---------------------------------------------------------------------
@pytest.mark.parametrize("dialect", [2, 3])
def test_install_release_library_no_log(tmp_path, dialect):
    box = HelmHarness(tmp_path, dialect)
    try:
        step = PLAN.step("manager-service")
        rel = install_release(box.api, name="manager", chart="manager-service", version="0.8.0",
                              values={"env": {"open": {"X": 1}}}, namespace=NS, dialect=dialect,
                              plan_step=step, create_hooks=False)
        assert rel.version == 1 and rel.status == "deployed" and rel.config == {"env": {"open": {"X": 1}}}
        assert box.api.list("jobs.batch", NS) == []
        labels = box.api.get("deployments.apps", NS, "manager")["spec"]["template"]["metadata"]["labels"]
        assert labels["choerodon.io/metrics-port"] == "8964" and labels["choerodon.io/service"] == "manager-service"
        # with its hook Jobs (the leftover-jobs fault): the finished Jobs stay
        install_release(box.api, name="manager2", chart="manager-service", version="0.8.0", values={},
                        namespace=NS, dialect=dialect, plan_step=step, create_hooks=True)
        assert {j["metadata"]["name"] for j in box.api.list("jobs.batch", NS)} == {"manager2-init-db"}
        assert len(box.release_objects("manager")) == 1
        assert not (tmp_path / "helm-calls.jsonl").exists()
    finally:
        box.server.stop()


# --- pure helpers -----------------------------------------------------------------------------
def test_parse_set_strvals():
    values = {}
    parse_set(r"a.b=1,c=x\,y,d={1,two},e=false,f=null,g=010,h\.i=j", values)
    assert values == {"a": {"b": 1}, "c": "x,y", "d": [1, "two"], "e": False, "f": None, "g": "010", "h.i": "j"}
    parse_set("a.b=1", values, as_string=True)
    assert values["a"]["b"] == "1"
    with pytest.raises(HelmCliError, match="has no value"):
        parse_set("novalue", {})


def test_go_duration():
    assert go_duration_seconds("5m") == 300
    assert go_duration_seconds("1h30m") == 5400
    assert go_duration_seconds("300s") == 300
    with pytest.raises(ValueError, match="missing unit"):
        go_duration_seconds("300")


def test_kubeapi_errors_map_status(tmp_path):
    box = HelmHarness(tmp_path, 3)
    try:
        with pytest.raises(KubeApiError) as err:
            box.api.get("deployments.apps", NS, "absent")
        assert err.value.status == 404 and err.value.reason == "NotFound" and "absent" in err.value.message
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"k": "v"}}}
        box.api.create("configmaps", NS, cm)
        with pytest.raises(KubeApiError) as err:
            box.api.create("configmaps", NS, cm)
        assert err.value.status == 409
        assert [o["metadata"]["name"] for o in box.api.list("configmaps", NS, "k=v")] == ["c"]
        assert box.api.list("configmaps", NS, "k=other") == []
        box.api.patch("configmaps", NS, "c", {"data": {"a": "1"}})
        assert box.api.get("configmaps", NS, "c")["data"] == {"a": "1"}
        box.api.delete("configmaps", NS, "c")
        assert box.api.get_or_none("configmaps", NS, "c") is None
    finally:
        box.server.stop()


def test_wait_times_out_without_ready_pods(sandbox3):
    # no runtime here, so no pod ever becomes Ready: --wait must give up after --timeout
    sandbox3.install("config-server", "config-server", "0.8.0", ok=True)
    result = sandbox3.upgrade("config-server", "config-server", "0.9.0", "--wait", "--timeout", "1s", ok=False)
    assert result.stderr == "Error: UPGRADE FAILED: timed out waiting for the condition\n"
    statuses = {o["metadata"]["labels"]["version"]: o["metadata"]["labels"]["status"]
                for o in sandbox3.release_objects("config-server")}
    assert statuses == {"1": "deployed", "2": "failed"}
