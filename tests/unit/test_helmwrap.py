"""The helm wrapper's pure parts: which call a fault acts on, the flags it adds, the masked argv."""
from __future__ import annotations

import base64
import json
import sys
from urllib.parse import quote

import yaml

from c7n_upgrade.config import dotenv_line
from c7n_sandbox import faults
from c7n_sandbox.helmwrap_calllog import log_call, masked_argv
from c7n_sandbox.helmwrap import chart_name, fault_args, fault_of, parse_deploy
from c7n_sandbox.helmwrap_render import render


def test_parse_deploy_finds_release_and_chart_past_valued_flags():
    assert parse_deploy(["--kube-context", "c7n-upgrade", "upgrade", "-n", "ns", "cs", "c7n/config-server",
                         "--version", "0.9.0", "-f", "v.yaml"]) == ("upgrade", "cs", "c7n/config-server", False)
    assert parse_deploy(["install", "--set", "a=1", "x", "./x-1.0.0.tgz", "--dry-run"]) == ("install", "x", "./x-1.0.0.tgz", True)
    assert parse_deploy(["upgrade", "x", "c/x", "--dry-run=false"])[3] is False
    assert parse_deploy(["install", "--generate-name", "c/x"]) == ("install", "", "c/x", False)
    assert parse_deploy(["status", "x"]) is None and parse_deploy(["upgrade", "x"]) is None


def test_parse_deploy_reads_helm_2s_install_form():
    assert parse_deploy(["install", "c7n/config-server", "--name", "cs", "--namespace", "ns", "--version", "0.8.0",
                         "--tiller-namespace", "kube-system"]) == ("install", "cs", "c7n/config-server", False)
    assert parse_deploy(["--host", "127.0.0.1:4", "install", "--name=cs", "./cs.tgz"]) == ("install", "cs", "./cs.tgz", False)
    assert parse_deploy(["upgrade", "cs", "c7n/config-server", "--tiller-namespace", "kube-system"])[1:3] == (
        "cs", "c7n/config-server")
    assert parse_deploy(["install", "c7n/config-server", "-n", "cs", "--namespace", "ns"]) == (
        "install", "cs", "c7n/config-server", False)
    assert parse_deploy(["install", "-n", "ns", "cs", "c7n/config-server"])[1:3] == ("cs", "c7n/config-server")


def test_chart_name_from_every_reference_form():
    assert [chart_name(r) for r in ("c7n/config-server", "/a/config-server-0.9.0.tgz", "go-register-server-0.9.0-rc1.tgz",
                                    "oci://r.io/c7n/iam-service", "./chart/")] == \
        ["config-server", "config-server", "go-register-server", "iam-service", "chart"]


def test_fault_of_matches_release_chart_or_plan_name_and_skips_dry_runs(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - {release: register-server, chart: go-register-server}\n")
    (tmp_path / "sandbox.json").write_text(json.dumps({"plan": str(plan)}))
    faults.set_fault(tmp_path, "register-server", "helm-fail")
    faults.set_fault(tmp_path, "iam-service", "unschedulable")
    assert fault_of(tmp_path, ["upgrade", "reg", "c7n/go-register-server"]).kind == "helm-fail"
    assert fault_of(tmp_path, ["upgrade", "reg", "c7n/go-register-server", "--dry-run"]) is None
    assert fault_of(tmp_path, ["upgrade", "iam", "c7n/iam-service"]).kind == "unschedulable"
    assert fault_of(tmp_path, ["upgrade", "other", "c7n/config-server"]) is None
    assert fault_of(tmp_path, ["history", "register-server"]) is None


def test_fault_args():
    render = ["--post-renderer", sys.executable, "--post-renderer-args", "-m", "--post-renderer-args",
              "c7n_sandbox.helmwrap_render"]
    assert fault_args(faults.validate("helm-fail", None)) == [*render, "--post-renderer-args", "requests.memory=-1Gi"]
    assert fault_args(faults.validate("unschedulable", None)) == [
        *render, "--post-renderer-args", "requests.memory=1Ti", "--post-renderer-args", "limits.memory=1Ti"]
    assert fault_args(faults.validate("helm-hang", "3")) == [] and fault_args(None) == []


def test_the_post_renderer_sets_memory_on_deployments_only():
    manifest = ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n"
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
                "spec: {template: {spec: {containers: [{name: app, resources: {}}]}}}\n")
    docs = list(yaml.safe_load_all(render(manifest, ["requests.memory=-1Gi", "limits.memory=1Ti"])))
    assert docs[0] == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    assert docs[1]["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"memory": "-1Gi"}, "limits": {"memory": "1Ti"}}


def test_masked_argv_masks_secret_keys_and_the_sandbox_secrets(tmp_path):
    secret = "s3cr3t 'x\"y"
    (tmp_path / "secrets.env").write_text(dotenv_line("C7N_ADMIN_PASSWORD", secret))
    (tmp_path / "secrets.env").chmod(0o600)
    argv = ["upgrade", "r", "c", "--set", "a=1,db.password=pw1,b=2", "--set-string=x.token=tk",
            "--set", f"url=mysql://u:{secret}@h", "--password", "pw2", "-n", "ns"]
    assert masked_argv(tmp_path, argv) == [
        "upgrade", "r", "c", "--set", "a=1,db.password=******,b=2", "--set-string=x.token=******",
        "--set", "url=mysql://u:******@h", "--password", "******", "-n", "ns"]
    assert masked_argv(tmp_path, ["upgrade", "r", "c", "-f", "v.yaml"]) == ["upgrade", "r", "c", "-f", "v.yaml"]
    log_call(tmp_path, argv, 1)
    text = (tmp_path / "helm-calls.jsonl").read_text()
    assert "pw1" not in text and "pw2" not in text and secret not in text and json.dumps(secret)[1:-1] not in text


def test_masked_argv_reads_values_as_helm_does(tmp_path):
    """Lists, escapes, --set-literal and --set-json: no part of a secret-named value stays."""
    hostile = {
        "--set": ["db.password={aa11,bb22}", "db.password={aa11,bb22", "a={x,db.password=aa11", "a=x\\\\,db.password=aa11", "db.password=aa11\\,bb22",
                  "env.DB_PASS=aa11,env.MYSQL_PWD=bb22,apiKey=cc33,x={1,2},y=3"],
        "--set-literal": ["db.password=aa11,bb22"],
        "--set-json": ['db={"password":"aa11","user":"u"}', 'db.token="aa11"'],
        "--set-string": ["a=1,db.secret=aa11"],
    }
    for flag, values in hostile.items():
        for value in values:
            for argv in (["upgrade", "r", "c", flag, value], ["upgrade", "r", "c", f"{flag}={value}"]):
                text = " ".join(masked_argv(tmp_path, argv))
                assert not any(s in text for s in ("aa11", "bb22", "cc33")), (argv, text)
    assert masked_argv(tmp_path, ["upgrade", "r", "c", "--set", "env.DB_PASS=aa11,x={1,2},y=3"])[-1] == \
        "env.DB_PASS=******,x={1,2},y=3"
    assert masked_argv(tmp_path, ["upgrade", "r", "c", "--set-json", 'db={"user":"u"}'])[-1] == 'db={"user":"u"}'


def test_masked_argv_masks_the_sandbox_secrets_in_any_argument(tmp_path):
    secret = "Sup3r/S3cret+val"
    (tmp_path / "secrets.env").write_text(dotenv_line("C7N_ADMIN_PASSWORD", secret))
    (tmp_path / "secrets.env").chmod(0o600)
    calls = [["repo", "add", "c7n", f"https://admin:{secret}@charts.example/"],
             ["repo", "add", "c7n", f"https://admin:{quote(secret, safe='')}@charts.example/"],
             ["install", "c7n/x", "--name", secret], ["upgrade", "r", "c", "--description", secret],
             ["get", "values", base64.b64encode(secret.encode()).decode()]]
    for argv in calls:
        text = json.dumps(masked_argv(tmp_path, argv))
        assert "******" in text and argv[-1] not in text and secret not in text, (argv, text)
    assert masked_argv(tmp_path, ["status", "r"]) == ["status", "r"]


def test_masked_argv_shows_no_value_when_the_secrets_file_cannot_be_read(tmp_path):
    (tmp_path / "secrets.env").write_text("not a dotenv line\n")
    assert masked_argv(tmp_path, ["upgrade", "r", "c", "--description", "x"]) == ["upgrade", "******", "******",
                                                                                  "******", "******"]


def test_masked_argv_masks_registry_logins_short_password(tmp_path):
    for argv in (["registry", "login", "r.io", "-u", "me", "-p", "aa11"], ["registry", "login", "r.io", "-paa11"],
                 ["registry", "login", "r.io", "-p=aa11"]):
        masked = masked_argv(tmp_path, argv)
        assert "aa11" not in " ".join(masked) and masked[:3] == argv[:3] and "******" in masked[-1], masked
