"""The helm driver: parsers on helm's own golden files (v3.19.5) and on hand-written Helm 2 samples
taken from shared/reference/helm-cli-contract.md; argv per dialect through a fake runner."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from c7n_upgrade.helm import (
    ChartVersion,
    CommandResult,
    HelmClient,
    HelmError,
    HelmParseError,
    Release,
    command_line,
    deep_merge,
    dotted_to_nested,
    error_line,
    parse_list_json,
    parse_search_json,
    parse_values,
    parse_version,
    split_chart,
    values_diff,
    values_file,
    write_values_file,
)
from tests.helm_golden import golden


# ---------------------------------------------------------------------------------------------
# version


def test_version_golden_short():
    assert parse_version(golden("version-short.txt")) == (3, "v3.19")


def test_version_golden_buildinfo():
    assert parse_version(golden("version.txt")) == (3, "v3.19")


def test_version_v2_client_short():
    assert parse_version("Client: v2.17.0+ga690bad\n") == (2, "v2.17.0+ga690bad")


def test_version_v3_full_short():
    assert parse_version("v3.19.5+g4f8a9d3\n") == (3, "v3.19.5+g4f8a9d3")


def test_version_garbage():
    with pytest.raises(HelmParseError):
        parse_version("command not found")


# ---------------------------------------------------------------------------------------------
# list

# `helm list -o json` (v3): the golden list.txt as JSON, shape from the contract (revision a string)
V3_LIST = (
    '[{"name":"hummingbird","namespace":"default","revision":"1","updated":"2016-01-16 00:00:03 +0000 UTC",'
    '"status":"deployed","chart":"chickadee-1.0.0","app_version":"0.0.1"},'
    '{"name":"rocket","namespace":"default","revision":"1","updated":"2016-01-16 00:00:02 +0000 UTC",'
    '"status":"failed","chart":"chickadee-1.0.0","app_version":"0.0.1"},'
    '{"name":"thanos","namespace":"default","revision":"1","updated":"2016-01-16 00:00:01 +0000 UTC",'
    '"status":"pending-install","chart":"chickadee-1.0.0","app_version":"0.0.1"}]\n'
)

# `helm list --output json --all` (v2), shape from the contract
V2_LIST = (
    '{"Next":"","Releases":[{"Name":"register-server","Revision":3,"Updated":"Mon Jan  2 15:04:05 2006",'
    '"Status":"DEPLOYED","Chart":"go-register-server-0.8.0","AppVersion":"0.8.0","Namespace":"choerodon-devops-prod"},'
    '{"Name":"notify-service","Revision":1,"Updated":"Mon Jan  2 15:04:05 2006",'
    '"Status":"PENDING_INSTALL","Chart":"notify-service-0.9.0","AppVersion":"","Namespace":"choerodon-devops-prod"},'
    '{"Name":"old-events","Revision":2,"Updated":"Mon Jan  2 15:04:05 2006",'
    '"Status":"DELETED","Chart":"event-store-service-0.8.0","AppVersion":"","Namespace":"choerodon-devops-prod"}]}\n'
)


def test_list_v3():
    releases = parse_list_json(V3_LIST, 3)
    assert releases[0] == Release(
        name="hummingbird", namespace="default", revision=1, status="deployed", chart="chickadee-1.0.0",
        chart_name="chickadee", chart_version="1.0.0", app_version="0.0.1",
        updated="2016-01-16 00:00:03 +0000 UTC",
    )
    assert [r.status for r in releases] == ["deployed", "failed", "pending-install"]


def test_list_v3_empty():
    assert parse_list_json("[]\n", 3) == []


def test_list_v2():
    releases = parse_list_json(V2_LIST, 2)
    assert [(r.name, r.revision, r.status) for r in releases] == [
        ("register-server", 3, "deployed"),
        ("notify-service", 1, "pending-install"),
        ("old-events", 2, "uninstalled"),
    ]
    first = releases[0]
    assert (first.chart_name, first.chart_version, first.namespace) == (
        "go-register-server", "0.8.0", "choerodon-devops-prod")


def test_list_v2_no_match_prints_nothing():
    assert parse_list_json("", 2) == []
    assert parse_list_json("\n", 2) == []


def test_list_garbage():
    with pytest.raises(HelmParseError):
        parse_list_json("NAME  REVISION\nfoo  1\n", 3)


@pytest.mark.parametrize("chart, expected", [
    ("chickadee-1.0.0", ("chickadee", "1.0.0")),
    ("go-register-server-0.9.0", ("go-register-server", "0.9.0")),
    ("foo-0.1.0-beta.1", ("foo", "0.1.0-beta.1")),  # golden history.json
    ("test-manager-service-0.9.2", ("test-manager-service", "0.9.2")),
    ("k8s-2fa-1.2.3", ("k8s-2fa", "1.2.3")),
])
def test_split_chart(chart, expected):
    assert split_chart(chart) == expected


# ---------------------------------------------------------------------------------------------
# search


def test_search_v3():
    text = ('[{"name":"testing/alpine","version":"0.2.0","app_version":"2.3.4","description":"Deploy a basic Alpine Linux pod"},'
            '{"name":"testing/alpine","version":"0.1.0","app_version":"1.2.3","description":"Deploy a basic Alpine Linux pod"}]\n')
    assert parse_search_json(text, 3) == [
        ChartVersion("testing/alpine", "0.2.0", "2.3.4", "Deploy a basic Alpine Linux pod"),
        ChartVersion("testing/alpine", "0.1.0", "1.2.3", "Deploy a basic Alpine Linux pod"),
    ]


def test_search_v2_capitalised_and_null():
    text = ('[{"Name":"c7n/iam-service","Version":"0.9.0","AppVersion":"0.9.0","Description":"iam"},'
            '{"Name":"c7n/iam-service","Version":"0.8.0","AppVersion":"0.8.0","Description":"iam"}]')
    assert [(c.name, c.version) for c in parse_search_json(text, 2)] == [
        ("c7n/iam-service", "0.9.0"), ("c7n/iam-service", "0.8.0")]
    assert parse_search_json("null\n", 2) == []
    assert parse_search_json("[]\n", 3) == []


# ---------------------------------------------------------------------------------------------
# values


def test_values_golden_json_and_yaml():
    assert parse_values(golden("values.json")) == {"name": "value"}
    assert parse_values(golden("values.yaml")) == {"name": "value"}


def test_values_golden_table_header_is_tolerated():
    assert parse_values(golden("get-values.txt")) == {"name": "value"}
    assert parse_values(golden("get-values-all.txt")) == {"name": "value"}


def test_values_empty_forms():
    assert parse_values("null\n") == {}
    assert parse_values("{}\n") == {}
    assert parse_values("") == {}


def test_values_not_a_mapping():
    with pytest.raises(HelmParseError):
        parse_values("[1, 2]")


@pytest.mark.parametrize("output", [
    'Using context prod\n{"gitlab": {"privateToken": "glpat-values-only-1"}}',   # a wrapper's banner: not JSON
    '{"gitlab": {"privateToken": "glpat-values-only-1"}',                       # cut short: neither
    '- privateToken: glpat-values-only-1',                                      # a list
])
def test_values_that_cannot_be_read_are_not_quoted_in_the_error(output):
    """The output holds the release's secrets, which the redactor learns only from parsed values."""
    with pytest.raises(HelmParseError) as exc:
        parse_values(output)
    assert "glpat-values-only-1" not in str(exc.value) and "helm get values" in str(exc.value)


# ---------------------------------------------------------------------------------------------
# errors


def test_error_line_from_golden_upgrade_failure():
    result = CommandResult(["helm", "upgrade", "funny-bunny", "c7n/x"], 1, "",
                           golden("upgrade-with-bad-or-missing-existing-release.txt"))
    assert error_line(result) == 'Error: UPGRADE FAILED: "funny-bunny" has no deployed releases'
    err = HelmError(result)
    assert "helm upgrade funny-bunny c7n/x" in str(err)
    assert 'Error: UPGRADE FAILED: "funny-bunny" has no deployed releases' in str(err)


def test_error_line_keeps_the_list_a_real_helm_3_prints_after_n_errors_occurred():
    stderr = ("Error: UPGRADE FAILED: pre-upgrade hooks failed: 1 error occurred:\n"
              "\t* job manager-service-init-db failed: BackoffLimitExceeded\n\n\n")
    result = CommandResult(["helm", "upgrade", "manager-service", "c7n/manager-service"], 1, "", stderr)
    assert error_line(result) == ("Error: UPGRADE FAILED: pre-upgrade hooks failed: 1 error occurred: "
                                  "* job manager-service-init-db failed: BackoffLimitExceeded")


def test_error_line_from_golden_usage_error():
    result = CommandResult(["helm", "get", "values"], 1, "", golden("get-values-args.txt"))
    assert error_line(result) == 'Error: "helm get values" requires 1 argument'


def test_command_line_quotes():
    assert command_line(["helm", "upgrade", "a b", "--set", "x=$(rm -rf /)"]) == \
        "helm upgrade 'a b' --set 'x=$(rm -rf /)'"


# ---------------------------------------------------------------------------------------------
# the client against a fake runner


class FakeHelm:
    """Answers by the argv prefix (without the binary); records every call."""

    def __init__(self, version_out: str, answers: dict | None = None, version_err: str = ""):
        self.calls: list[list[str]] = []
        self.version_out = version_out
        self.version_err = version_err
        self.answers = answers or {}

    def __call__(self, argv, env):
        self.calls.append(list(argv))
        args = argv[1:]
        if args[:1] == ["version"]:
            if "--client" in args and self.version_err:
                return CommandResult(argv, 1, "", self.version_err)
            return CommandResult(argv, 0, self.version_out, "")
        for prefix, (code, out, err) in self.answers.items():
            if tuple(args[: len(prefix)]) == prefix:
                return CommandResult(argv, code, out, err)
        return CommandResult(argv, 0, "", "")


def client(fake, **kw):
    return HelmClient("/opt/bin/helm", namespace="choerodon-devops-prod", runner=fake, **kw)


def test_dialect_v2_detected_once():
    fake = FakeHelm("Client: v2.17.0+ga690bad\n")
    helm = client(fake)
    assert helm.dialect() == 2 and helm.dialect() == 2
    assert fake.calls == [["/opt/bin/helm", "version", "--short", "--client"]]
    assert helm.version_string == "v2.17.0+ga690bad"
    assert helm.version_output == "Client: v2.17.0+ga690bad\n"  # kept as helm printed it


def test_dialect_retries_without_client_on_unknown_flag():
    fake = FakeHelm("v4.0.0+g1234567\n", version_err="Error: unknown flag: --client\n")
    helm = client(fake)
    assert helm.dialect() == 3
    assert fake.calls == [["/opt/bin/helm", "version", "--short", "--client"],
                          ["/opt/bin/helm", "version", "--short"]]


def test_dialect_failure_is_a_helm_error():
    def broken(argv, env):
        return CommandResult(argv, 127, "", "Error: helm binary '/opt/bin/helm' not found\n")
    with pytest.raises(HelmError, match="cannot tell the helm version"):
        client(broken).dialect()


def test_v2_argv_traps():
    fake = FakeHelm("Client: v2.17.0+ga690bad\n", {
        ("list",): (0, V2_LIST, ""),
        ("get", "values"): (0, "{}\n", ""),
    })
    helm = client(fake, kube_context="prod", kubeconfig="/k/config")
    releases = helm.list_releases()
    assert len(releases) == 3
    assert fake.calls[-1] == ["/opt/bin/helm", "list", "--namespace", "choerodon-devops-prod", "--output", "json",
                              "--all", "--kube-context", "prod", "--kubeconfig", "/k/config",
                              "--tiller-namespace", "kube-system"]
    assert "-o" not in fake.calls[-1]  # -o is --offset on a v2 list
    assert helm.get_values("iam-service") == {}
    assert fake.calls[-1][:5] == ["/opt/bin/helm", "get", "values", "iam-service", "--output"]
    argv = helm.install_argv("notify-service", "c7n/notify-service", version="0.9.0",
                             values_files=[Path("/tmp/v1.yaml"), "/tmp/v2.yaml"], timeout_s=600)
    assert argv == ["/opt/bin/helm", "install", "c7n/notify-service", "--name", "notify-service",
                    "--namespace", "choerodon-devops-prod", "--version", "0.9.0", "-f", "/tmp/v1.yaml",
                    "-f", "/tmp/v2.yaml", "--timeout", "600", "--kube-context", "prod",
                    "--kubeconfig", "/k/config", "--tiller-namespace", "kube-system"]
    argv = helm.upgrade_argv("iam-service", "c7n/iam-service", version="0.9.0",
                             values_files=["/tmp/v.yaml"], timeout_s=300, dry_run=True)
    assert argv == ["/opt/bin/helm", "upgrade", "iam-service", "c7n/iam-service", "--version", "0.9.0",
                    "-f", "/tmp/v.yaml", "--timeout", "300", "--dry-run", "--kube-context", "prod",
                    "--kubeconfig", "/k/config", "--tiller-namespace", "kube-system"]


def test_v3_argv():
    fake = FakeHelm("v3.19.5+g4f8a9d3\n", {
        ("list",): (0, V3_LIST, ""),
        ("get", "values"): (0, "null\n", ""),
    })
    helm = client(fake)
    assert [r.name for r in helm.list_releases()] == ["hummingbird", "rocket", "thanos"]
    assert fake.calls[-1] == ["/opt/bin/helm", "list", "-n", "choerodon-devops-prod", "-o", "json", "--all"]
    assert helm.get_values("iam-service") == {}
    assert fake.calls[-1] == ["/opt/bin/helm", "get", "values", "iam-service", "-n", "choerodon-devops-prod",
                              "-o", "json"]
    result = helm.write("upgrade", "iam-service", "c7n/iam-service", version="0.9.0", values_files=["/tmp/v.yaml"],
                          timeout_s=600)
    assert result.argv == ["/opt/bin/helm", "upgrade", "iam-service", "c7n/iam-service", "--version", "0.9.0",
                           "-f", "/tmp/v.yaml", "--timeout", "600s", "--namespace", "choerodon-devops-prod"]
    result = helm.write("install", "notify-service", "c7n/notify-service", version="0.9.0", values_files=["/tmp/v.yaml"],
                          timeout_s=90, dry_run=True)
    assert result.argv == ["/opt/bin/helm", "install", "notify-service", "c7n/notify-service", "-n",
                           "choerodon-devops-prod", "--version", "0.9.0", "-f", "/tmp/v.yaml", "--timeout", "90s",
                           "--dry-run"]
    assert not any("--set" in call for call in fake.calls)
    assert helm.build_argv("install", "notify-service", "c7n/notify-service", version="0.9.0",
                           values_files=["/tmp/v.yaml"], timeout_s=90, dry_run=True) == result.argv
    with pytest.raises(ValueError):
        helm.build_argv("delete", "x", "c7n/x", version="1")


def test_search_argv_and_exact_name_filter():
    v3_out = ('[{"name":"c7n/iam-service","version":"0.9.0","app_version":"0.9.0","description":""},'
              '{"name":"c7n/iam-service-extra","version":"1.0.0","app_version":"","description":""}]')
    fake3 = FakeHelm("v3.19.5+g4f8a9d3\n", {("search",): (0, v3_out, "")})
    assert [c.version for c in client(fake3).search_versions("c7n/iam-service")] == ["0.9.0"]
    assert fake3.calls[-1] == ["/opt/bin/helm", "search", "repo", "c7n/iam-service", "--versions", "-o", "json"]
    fake2 = FakeHelm("Client: v2.17.0+ga690bad\n", {("search",): (0, "null\n", "")})
    assert client(fake2).search_versions("c7n/iam-service") == []
    assert fake2.calls[-1] == ["/opt/bin/helm", "search", "c7n/iam-service", "-l", "--output", "json"]


def test_failed_upgrade_raises_with_argv_and_error():
    fake = FakeHelm("Client: v2.17.0+ga690bad\n", {
        ("upgrade",): (1, "", "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n"),
    })
    with pytest.raises(HelmError) as err:
        client(fake).write("upgrade", "iam-service", "c7n/iam-service", version="0.9.0", values_files=[], timeout_s=60)
    assert "helm upgrade iam-service c7n/iam-service --version 0.9.0" in str(err.value)
    assert "another operation (install/upgrade/rollback) is in progress" in str(err.value)
    assert err.value.result.exit_code == 1


def test_repo_add_never_overwrites_an_existing_repo():
    calls = []

    def runner(argv, env):
        calls.append(argv)
        if argv[1] == "version":
            return CommandResult(argv, 0, "v3.19.5\n", "")
        return CommandResult(argv, 1, "", "Error: repository name (c7n) already exists, please specify a different name\n")

    with pytest.raises(HelmError) as err:
        client(runner).repo_add("c7n", "http://127.0.0.1:1/charts/c7n/")
    assert "already exists" in str(err.value)
    assert not any("--force-update" in argv for argv in calls)


@pytest.mark.parametrize("dialect, stdout, expected", [
    (3, '[{"name":"c7n","url":"https://openchart.choerodon.com.cn/choerodon/c7n/"},{"name":"stable","url":"https://x/"}]\n',
     {"c7n": "https://openchart.choerodon.com.cn/choerodon/c7n/", "stable": "https://x/"}),
    (2, "NAME  \tURL                                                \n"
        "stable\thttps://kubernetes-charts.storage.googleapis.com\nc7n   \thttps://openchart.choerodon.com.cn/choerodon/c7n/\n",
     {"stable": "https://kubernetes-charts.storage.googleapis.com", "c7n": "https://openchart.choerodon.com.cn/choerodon/c7n/"}),
])
def test_repo_list_both_dialects(dialect, stdout, expected):
    from c7n_upgrade.helm import parse_repo_list

    assert parse_repo_list(stdout, dialect) == expected


def test_repo_url_none_when_helm_has_no_repositories():
    def runner(argv, env):
        if argv[1] == "version":
            return CommandResult(argv, 0, "v3.19.5\n", "")
        return CommandResult(argv, 1, "", "Error: no repositories to show\n")

    assert client(runner).repo_url("c7n") is None


def test_env_is_passed_to_the_runner():
    seen = {}

    def runner(argv, env):
        seen["env"] = env
        return CommandResult(argv, 0, "v3.19.5\n", "")

    client(runner, env={"HELM_HOME": "/h"}).dialect()
    assert seen["env"]["HELM_HOME"] == "/h"
    assert "PATH" in seen["env"]  # merged over the process environment


# ---------------------------------------------------------------------------------------------
# values helpers


def test_write_values_file_is_0600_and_yaml(tmp_path):
    path = write_values_file({"env": {"open": {"X": "1"}}}, dir=tmp_path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert yaml.safe_load(path.read_text()) == {"env": {"open": {"X": "1"}}}
    finally:
        os.unlink(path)


def test_values_file_context_removes_it(tmp_path):
    with values_file({"a": 1}, dir=tmp_path) as path:
        assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.exists()
    with pytest.raises(RuntimeError):
        with values_file({"a": 1}, dir=tmp_path) as path2:
            raise RuntimeError("boom")
    assert not path2.exists()


def test_dotted_to_nested():
    assert dotted_to_nested({"env.open.X": 1, "env.open.Y": "y", "preJob.preConfig.mysql.port": 3306}) == {
        "env": {"open": {"X": 1, "Y": "y"}},
        "preJob": {"preConfig": {"mysql": {"port": 3306}}},
    }
    assert dotted_to_nested({r"labels.kubernetes\.io/name": "x"}) == {"labels": {"kubernetes.io/name": "x"}}
    with pytest.raises(ValueError):
        dotted_to_nested({"a": 1, "a.b": 2})


def test_deep_merge_keeps_inputs():
    base = {"env": {"open": {"A": 1, "B": 2}}, "list": [1, 2], "keep": True}
    overlay = {"env": {"open": {"B": 3, "C": 4}}, "list": [9]}
    merged = deep_merge(base, overlay)
    assert merged == {"env": {"open": {"A": 1, "B": 3, "C": 4}}, "list": [9], "keep": True}
    assert base == {"env": {"open": {"A": 1, "B": 2}}, "list": [1, 2], "keep": True}


def test_values_diff():
    old = {"env": {"open": {"A": 1}}}
    new = {"env": {"open": {"A": 1, "B": "x"}}}
    diff = values_diff(old, new)
    assert diff.startswith("--- current values\n+++ new values\n")
    assert "+    B: x\n" in diff
    assert values_diff(old, old) == ""
