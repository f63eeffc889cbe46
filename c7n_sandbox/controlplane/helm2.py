"""Real Helm 2 against the control plane: Tiller v2.17.0 (built from k8s.io/helm by
scripts/build-control-plane.sh --helm2) on loopback, storing releases as ConfigMaps in kube-system,
and the real helm client talking to it with HELM_HOST (no port-forward, no in-cluster Tiller)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from ..process import without_secrets
from .cluster import RBAC_DIR, TOKEN_DURATION, _write_private
from .components import Component, ControlPlaneError, free_port, http_ok

TILLER_NAMESPACE = "kube-system"
RBAC_FILE = RBAC_DIR / "helm2-tiller.yaml"


class Tiller:
    """Tiller for one control plane, as the identity of `context` in its kubeconfig (default the
    cluster-admin `sandbox`, as an in-cluster Tiller bound to cluster-admin). `helm(...)` runs the
    client against it, with its own HELM_HOME under `directory`."""

    def __init__(self, directory: Path, bin_dir: Path, kubeconfig: Path, context: str = "sandbox",
                 log=lambda line: None, namespace: str = TILLER_NAMESPACE):
        self.dir = Path(directory)
        self.bin = Path(bin_dir)
        self.source_kubeconfig = Path(kubeconfig)
        self.context = context
        self.namespace = namespace
        self.log = log
        self.host = ""
        self.component: Component | None = None
        self.ready_s = 0.0

    def client_env(self) -> dict[str, str]:
        """What a Helm 2 client needs to reach this Tiller: its address (no port-forward), a HELM_HOME."""
        return {"HELM_HOST": self.host, "HELM_HOME": str(self.dir / "helm-home")}

    def env(self) -> dict[str, str]:
        """The client's environment: Tiller's address, a HELM_HOME of its own, the kubeconfig."""
        return {**without_secrets(), **self.client_env(), "TILLER_NAMESPACE": self.namespace,
                "KUBECONFIG": str(self.dir / "kubeconfig")}

    def start(self, timeout: float = 30.0) -> "Tiller":
        self.dir.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load(self.source_kubeconfig.read_text())
        config["current-context"] = self.context  # Tiller has no --kube-context: it uses the current one
        _write_private(self.dir / "kubeconfig", config)
        port, probe = free_port(), free_port()
        self.host = f"127.0.0.1:{port}"
        # Both listeners on loopback: Tiller's defaults (:44134, :44135) are every interface.
        argv = [self.bin / "tiller", "--listen", self.host, "--probe-listen", f"127.0.0.1:{probe}",
                "--storage", "configmap"]
        self.component = Component("tiller", argv, self.dir / "tiller.log", env=self.env())
        self.component.start()
        try:
            self.ready_s = self.component.wait_ready(lambda: http_ok(f"http://127.0.0.1:{probe}/readiness"), timeout)
            init = self.helm("init", "--client-only", "--skip-refresh", "--skip-repos", check=False)
            if init.returncode != 0:
                raise ControlPlaneError(f"helm init --client-only failed ({init.returncode}):\n{init.stderr}")
        except BaseException:  # not ready in time, helm init failed or timed out, a signal: no Tiller left
            self.stop()        # running (a `with` block never gets to __exit__)
            raise
        self.log(f"tiller: ready in {self.ready_s:.1f} s on {self.host} (releases in {self.namespace})")
        return self

    def helm(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """The real Helm 2 client against this Tiller; check=True raises on a non-zero exit."""
        result = subprocess.run([str(self.bin / "helm"), *args], env=self.env(), capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ControlPlaneError(f"helm {' '.join(args)} failed ({result.returncode}):\n"
                                    f"{result.stdout}{result.stderr}")
        return result

    @property
    def pid(self) -> int | None:
        return self.component.proc.pid if self.component and self.component.proc else None

    def stop(self, timeout: float = 10.0) -> None:
        if self.component:
            self.component.stop(timeout)

    def __enter__(self) -> "Tiller":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_tiller(control_plane, bin_dir: Path, directory: Path, log=lambda line: None,
                 rbac: Path = RBAC_FILE) -> Tiller:
    """Tiller as the ServiceAccount kube-system/tiller with only `rbac`'s rules (deploy/rbac/
    helm2-tiller.yaml), as a cluster narrowing Tiller runs it; its token in a 0600 kubeconfig."""
    for args in (("create", "serviceaccount", "tiller", "-n", TILLER_NAMESPACE), ("apply", "-f", str(rbac))):
        result = control_plane.kubectl(*args)
        if result.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    token = control_plane.kubectl("create", "token", "tiller", "-n", TILLER_NAMESPACE, f"--duration={TOKEN_DURATION}")
    if token.returncode != 0:
        raise ControlPlaneError(f"kubectl create token tiller failed: {token.stderr.strip()}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Tiller's kubeconfig holds its own token only, not the sandbox's other identities
    control_plane._write_component_kubeconfig(directory / "source.kubeconfig", "tiller", token.stdout.strip())
    return Tiller(directory, bin_dir, directory / "source.kubeconfig", context="tiller", log=log).start()
