"""Helm 2 with a TLS Tiller: the env names the client's files; helm gets them in its environment,
never on its command line (where `ps` and shell history would show them)."""
from __future__ import annotations

import pytest
import yaml

from c7n_upgrade import clients
from c7n_upgrade.config import ConfigError, load_env
from tests.unit.test_config import ENVS, PROD_VARS

FAKE_HELM = """#!/bin/sh
{ echo "ARGV $*"; env | grep '^HELM_TLS_' | sort; } >> "$(dirname "$0")/calls.txt"
echo 'Client: v2.16.12+g47f0b88'
"""


def _env_file(tmp_path, monkeypatch, **tls):
    for name, value in PROD_VARS.items():
        monkeypatch.setenv(name, value)
    helm = tmp_path / "helm"
    helm.write_text(FAKE_HELM)
    helm.chmod(0o755)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / "tiller" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "tiller" / name).write_text("-----BEGIN-----\n")
    data = yaml.safe_load((ENVS / "prod.yaml").read_text())
    data["helm"].update(binary="./helm", tls={"ca_cert": "tiller/ca.pem", "cert": "tiller/cert.pem",
                                               "key": "tiller/key.pem", **tls})
    path = tmp_path / "tls.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_tiller_tls_files_reach_helm_through_its_environment(tmp_path, monkeypatch):
    env = load_env(str(_env_file(tmp_path, monkeypatch, hostname="tiller-deploy")), ENVS)
    helm = clients.build(env).helm
    assert helm.dialect() == 2
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls[0] == "ARGV version --short --client"
    assert calls[1:] == [f"HELM_TLS_CA_CERT={tmp_path}/tiller/ca.pem", f"HELM_TLS_CERT={tmp_path}/tiller/cert.pem",
                         "HELM_TLS_ENABLE=true", "HELM_TLS_HOSTNAME=tiller-deploy",
                         f"HELM_TLS_KEY={tmp_path}/tiller/key.pem", "HELM_TLS_VERIFY=true"]
    argv = helm.build_argv("upgrade", "iam-service", "c7n/iam-service", version="0.9.0", values_files=[],
                           timeout_s=600)
    assert not [a for a in argv[1:] if a.startswith("--tls") or "/tiller/" in a], argv


def test_a_missing_tls_file_is_named_before_anything_runs(tmp_path, monkeypatch):
    path = _env_file(tmp_path, monkeypatch)
    (tmp_path / "tiller" / "key.pem").unlink()
    with pytest.raises(ConfigError, match=r"helm\.tls\.key.*key\.pem is not a file"):
        load_env(str(path), ENVS)


def test_without_tls_helm_gets_no_tls_variables(tmp_path, monkeypatch):
    path = _env_file(tmp_path, monkeypatch)
    data = yaml.safe_load(path.read_text())
    del data["helm"]["tls"]
    path.write_text(yaml.safe_dump(data))
    assert clients.helm_tls_environment(load_env(str(path), ENVS)) == {}
