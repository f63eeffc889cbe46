"""Children that need none of the suite's variables (Tiller, the sandbox's bootstrap helm) get none:
the sandbox's secrets are `C7N_*` variables of its environment."""
from __future__ import annotations

from pathlib import Path

from c7n_sandbox.controlplane.helm2 import Tiller
from c7n_sandbox.process import without_secrets

HOSTILE = "p'a\"ss w0rd=$x"


def test_without_secrets_drops_every_c7n_variable_and_keeps_the_rest():
    environ = {"C7N_MYSQL_ROOT_PASSWORD": HOSTILE, "C7N_ADMIN_PASSWORD": HOSTILE, "C7N_ENV": "prod",
               "PATH": "/usr/bin", "HOME": "/root", "XC7N_KEEP": "1"}
    assert without_secrets(environ) == {"PATH": "/usr/bin", "HOME": "/root", "XC7N_KEEP": "1"}


def test_tillers_environment_has_no_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("C7N_MYSQL_ROOT_PASSWORD", HOSTILE)
    monkeypatch.setenv("C7N_OAUTH_CLIENT_SECRET", HOSTILE)
    env = Tiller(tmp_path, Path("/nonexistent"), tmp_path / "kubeconfig").env()
    assert not [k for k in env if k.startswith("C7N_")]
    assert HOSTILE not in env.values()
    assert env["KUBECONFIG"] == str(tmp_path / "kubeconfig") and "PATH" in env
