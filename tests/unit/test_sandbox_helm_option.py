"""`--sandbox-helm 2|3` and `--sandbox-helm-binary` (and `sandbox_options.helm`): the `up` arguments each
makes. The sandbox always runs on the real control plane: no cluster is chosen (the emulator is gone)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from c7n_upgrade.config.model import SandboxOptions
from c7n_sandbox.__main__ import build_parser
from c7n_sandbox.base import SandboxError
from c7n_sandbox.realcluster import RealCluster
from fixtures.plugin import _sandbox_helm_args


def _opt(helm=None, binary=None):
    return SimpleNamespace(sandbox_helm=helm, sandbox_helm_binary=binary)


def test_the_helm_comes_from_the_option_else_the_env_file():
    assert _sandbox_helm_args(_opt(), SandboxOptions()) == ["--helm", "2"]   # the guide's era
    assert _sandbox_helm_args(_opt(), SandboxOptions(helm=3)) == ["--helm", "3"]
    assert _sandbox_helm_args(_opt(helm="3"), SandboxOptions(helm=2)) == ["--helm", "3"]
    assert _sandbox_helm_args(_opt(helm="2"), SandboxOptions(helm=3)) == ["--helm", "2"]


def test_a_given_helm_binary_is_passed_on_as_helm_3(tmp_path):
    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\n")
    helm.chmod(0o755)
    wanted = ["--helm", "3", "--helm-binary", str(helm.resolve())]
    assert _sandbox_helm_args(_opt(binary=str(helm)), SandboxOptions(helm=2)) == wanted


def test_a_helm_3_binary_with_helm_2_is_refused(tmp_path):
    with pytest.raises(pytest.UsageError, match="--sandbox-helm-binary names a real Helm 3"):
        _sandbox_helm_args(_opt(helm="2", binary=str(tmp_path / "helm")), SandboxOptions())
    with pytest.raises(SandboxError, match="--helm-binary takes a real Helm 3"):
        RealCluster(tmp_path, helm_dialect=2, helm_binary=str(tmp_path / "helm"))


def test_the_cluster_choice_is_gone_from_the_env_file_and_up():
    with pytest.raises(ValueError, match="cluster"):
        SandboxOptions(cluster="real")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--dir", "d", "--cluster", "real"])
    import inspect
    assert inspect.signature(RealCluster).parameters["helm_dialect"].default == 2   # the guide's era


def test_a_sandbox_interrupted_while_it_starts_is_stopped(tmp_path, monkeypatch):
    """`with SandboxProcess(...)`: Ctrl-C during start() reaches no __exit__, so __enter__ stops `up` itself
    (it runs in a session of its own: nothing else would)."""
    from c7n_sandbox.process import SandboxProcess

    stopped = []

    def interrupted(self, timeout=180.0):
        raise KeyboardInterrupt

    monkeypatch.setattr(SandboxProcess, "start", interrupted)
    monkeypatch.setattr(SandboxProcess, "stop", lambda self: stopped.append(self.dir))
    with pytest.raises(KeyboardInterrupt):
        with SandboxProcess(tmp_path / "sb"):
            pass
    assert stopped == [tmp_path / "sb"]
