"""The sandbox `helm` executable, run as a subprocess against a real ApiServer + Store, in both dialects
(tests/sandbox/helm_harness.py): what it shows (version, repo, search, list, history, status, get values).

Layouts are compared with helm's own golden outputs (tests/golden/helm-v3.19.5, copied from helm v3.19.5);
Helm 2 shapes come from shared/reference/helm-cli-contract.md.
"""
import json
import re

from tests.helm_golden import golden
from tests.sandbox.helm_harness import (NS, HelmHarness, block_keys, sandbox, sandbox3,  # noqa: F401 (fixtures)
                                        table_shape)


# --- version / repo / search ---------------------------------------------------------------

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


# --- list / history / status / get values --------------------------------------------------

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
