"""`--sandbox-cluster emulator|real` (and `sandbox_options.cluster`): which `up` arguments each choice
makes, the default by helm dialect when none is stated, and which helm the real control plane runs (3, or
the real Helm 2 when asked for), in the plugin and in the launcher."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from c7n_upgrade.config.model import SandboxOptions
from c7n_upgrade.sandbox.base import SandboxError
from c7n_upgrade.sandbox.process import up_cluster
from c7n_upgrade.sandbox.realcluster import RealCluster
from fixtures.plugin import _sandbox_cluster_args


def _opt(cluster=None, helm=None, binary=None):
    return SimpleNamespace(sandbox_cluster=cluster, sandbox_helm=helm, sandbox_helm_binary=binary,
                           sandbox_kube_minor="15")


def test_without_a_stated_cluster_both_dialects_run_on_the_real_control_plane_in_their_dialect():
    assert SandboxOptions().cluster == "auto"
    assert _sandbox_cluster_args(_opt(), SandboxOptions()) == ["--cluster", "real", "--helm", "2"]
    assert _sandbox_cluster_args(_opt(), SandboxOptions(helm=3)) == ["--cluster", "real", "--helm", "3"]
    assert _sandbox_cluster_args(_opt(helm="3"), SandboxOptions(helm=2)) == ["--cluster", "real", "--helm", "3"]
    assert _sandbox_cluster_args(_opt(helm="2"), SandboxOptions(helm=3)) == ["--cluster", "real", "--helm", "2"]
    # a stated cluster wins over the dialect's default
    assert _sandbox_cluster_args(_opt(helm="3"), SandboxOptions(cluster="emulator")) == \
        ["--cluster", "emulator", "--kube-minor", "15", "--helm", "3"]
    assert _sandbox_cluster_args(_opt("emulator"), SandboxOptions()) == \
        ["--cluster", "emulator", "--kube-minor", "15", "--helm", "2"]


def test_up_picks_its_cluster_by_the_same_rule():
    assert up_cluster([]) == "real" and up_cluster(["--helm", "2"]) == "real"
    assert up_cluster(["--helm", "3"]) == "real" and up_cluster(["--helm-binary", "/x/helm"]) == "real"
    assert up_cluster(["--helm", "3", "--cluster", "emulator"]) == "emulator"
    assert up_cluster(["--cluster", "emulator"]) == "emulator"


def test_real_from_the_option_runs_helm_3_unless_helm_2_is_asked_for():
    assert _sandbox_cluster_args(_opt("real"), SandboxOptions(helm=2)) == ["--cluster", "real", "--helm", "3"]
    assert _sandbox_cluster_args(_opt(), SandboxOptions(cluster="real")) == ["--cluster", "real", "--helm", "3"]
    # the option wins over the env file
    assert _sandbox_cluster_args(_opt("emulator"), SandboxOptions(cluster="real"))[:2] == ["--cluster", "emulator"]


def test_real_passes_a_given_helm_binary_on(tmp_path):
    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\n")
    helm.chmod(0o755)
    wanted = ["--cluster", "real", "--helm", "3", "--helm-binary", str(helm.resolve())]
    assert _sandbox_cluster_args(_opt("real", binary=str(helm)), SandboxOptions()) == wanted
    # a Helm 3 binary makes the dialect 3, so the default cluster real, even beside the file's helm: 2
    assert _sandbox_cluster_args(_opt(binary=str(helm)), SandboxOptions(helm=2)) == wanted


def test_helm_2_on_the_real_control_plane_from_the_option_or_a_file_stating_both():
    assert _sandbox_cluster_args(_opt("real", helm="2"), SandboxOptions()) == ["--cluster", "real", "--helm", "2"]
    assert _sandbox_cluster_args(_opt(), SandboxOptions(cluster="real", helm=2)) == ["--cluster", "real", "--helm", "2"]
    # envs/sandbox.yaml states helm: 2 for the emulator; --sandbox-cluster real alone means the real Helm 3
    assert _sandbox_cluster_args(_opt("real"), SandboxOptions(cluster="emulator", helm=2)) == \
        ["--cluster", "real", "--helm", "3"]
    assert _sandbox_cluster_args(_opt(), SandboxOptions(cluster="real", helm=3))[:4] == ["--cluster", "real", "--helm", "3"]


def test_a_helm_3_binary_with_helm_2_on_the_real_control_plane_is_refused(tmp_path):
    with pytest.raises(pytest.UsageError, match="--sandbox-helm-binary names a real Helm 3"):
        _sandbox_cluster_args(_opt("real", helm="2", binary=str(tmp_path / "helm")), SandboxOptions())
    with pytest.raises(SandboxError, match="--helm-binary takes a real Helm 3"):
        RealCluster(tmp_path, helm_dialect=2, helm_binary=str(tmp_path / "helm"))


def test_an_unknown_cluster_in_the_env_file_is_refused():
    with pytest.raises(ValueError, match="cluster"):
        SandboxOptions(cluster="kind")


def test_a_sandbox_interrupted_while_it_starts_is_stopped(tmp_path, monkeypatch):
    """`with SandboxProcess(...)`: Ctrl-C during start() reaches no __exit__, so __enter__ stops `up` itself
    (it runs in a session of its own: nothing else would)."""
    from c7n_upgrade.sandbox.process import SandboxProcess

    stopped = []

    def interrupted(self, timeout=180.0):
        raise KeyboardInterrupt

    monkeypatch.setattr(SandboxProcess, "start", interrupted)
    monkeypatch.setattr(SandboxProcess, "stop", lambda self: stopped.append(self.dir))
    with pytest.raises(KeyboardInterrupt):
        with SandboxProcess(tmp_path / "sb"):
            pass
    assert stopped == [tmp_path / "sb"]
