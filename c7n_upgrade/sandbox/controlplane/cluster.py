"""A real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC, ServiceAccount tokens,
default admission), kube-controller-manager and kube-scheduler, as controller-runtime's envtest and
kwok start them, without Docker and without a node.

    with ControlPlane(directory, bin_dir) as cp:   # or cp.start() / cp.stop()
        cp.kubeconfig     # contexts sandbox (cluster-admin, current), c7n-upgrade, c7n-upgrade-check

Everything listens on 127.0.0.1 on free ports and lives under `directory` (data, certificates,
keys, tokens, logs); nothing is written anywhere else. The identities:
- `sandbox`: a static token of user `c7n-sandbox-admin` in group `system:masters`;
- the controller manager and the scheduler: static tokens of `system:kube-controller-manager` and
  `system:kube-scheduler`, the users Kubernetes' bootstrap RBAC policy grants their rights to;
- `c7n-upgrade` / `c7n-upgrade-check`: TokenRequest tokens of the ServiceAccounts that
  deploy/rbac/upgrade.yaml and readonly.yaml define, applied as those files say (`kubectl apply -f`).
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from .components import Component, ControlPlaneError, free_port, http_ok

ROOT = Path(__file__).resolve().parents[3]
RBAC_DIR = ROOT / "deploy" / "rbac"
NAMESPACE = "choerodon-devops-prod"  # the namespace deploy/rbac/*.yaml name (the guide's)
SERVICE_CIDR = "127.96.0.0/16"  # loopback: the node listens on clusterIPs as kube-proxy (docs/decisions.md)
SERVICE_ACCOUNTS = {  # context -> (ServiceAccount, the file that defines and binds it)
    "c7n-upgrade": ("c7n-upgrade", "upgrade.yaml"),
    "c7n-upgrade-check": ("c7n-upgrade-check", "readonly.yaml"),
}
#: the API server's audit log (D/controlplane/logs/audit.log): ConfigMap writes only (the suite's lock,
#: Tiller's releases), so a test can see what a run did after the run stopped its sandbox
AUDIT_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"], "rules": [
    {"level": "Metadata", "resources": [{"group": "", "resources": ["configmaps"]}],
     "verbs": ["create", "update", "patch", "delete"]},
    {"level": "None"}]}
TOKEN_DURATION = "8760h"  # a year: a sandbox never outlives it
ADMIN_USER = "c7n-sandbox-admin"
PORT_ATTEMPTS = 3


class ControlPlane:
    def __init__(self, directory: Path, bin_dir: Path, log=lambda line: None, namespace: str = NAMESPACE):
        self.dir = Path(directory)
        self.bin = Path(bin_dir)
        self.log = log
        self.namespace = namespace
        self.components: list[Component] = []
        self.url = ""
        self.kubeconfig = self.dir / "kubeconfig"
        self.ready_s: float | None = None
        self._tokens: dict[str, str] = {}

    def __enter__(self) -> "ControlPlane":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- start -----------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> "ControlPlane":
        """Start every component and wait for each to be ready (bounded by `timeout` s each); on any
        failure everything already started is stopped and ControlPlaneError names the component."""
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._keys()
                etcd = self._etcd(timeout)
                api = self._apiserver(etcd, timeout)
                self._controllers(etcd, api, timeout)
                self._apply_rbac(timeout)
                self._write_kubeconfig()
                break
            except ControlPlaneError as exc:
                self.stop()
                # a free port can be taken by another process before the component binds it
                if "address already in use" not in str(exc) or attempt == PORT_ATTEMPTS:
                    raise
                self.log(f"control plane: a port was taken meanwhile, starting again ({exc.args[0].splitlines()[0]})")
                shutil.rmtree(self.dir / "etcd", ignore_errors=True)
            except BaseException:
                self.stop()
                raise
        self.ready_s = time.monotonic() - started
        self.log(f"control plane: ready in {self.ready_s:.1f} s at {self.url} (kubeconfig {self.kubeconfig})")
        return self

    def _keys(self) -> None:
        """The ServiceAccount signing key pair and the static tokens, 0600, in the directory."""
        pki = self.dir / "pki"
        pki.mkdir(mode=0o700, exist_ok=True)
        self.sa_key, self.sa_pub = pki / "sa.key", pki / "sa.pub"
        if not self.sa_key.exists():
            _run(["openssl", "genrsa", "-out", str(self.sa_key), "2048"], "openssl genrsa (ServiceAccount key)")
            _run(["openssl", "rsa", "-in", str(self.sa_key), "-pubout", "-out", str(self.sa_pub)],
                 "openssl rsa -pubout (ServiceAccount key)")
        users = {"admin": (ADMIN_USER, "system:masters"),
                 "controller-manager": ("system:kube-controller-manager", ""),
                 "scheduler": ("system:kube-scheduler", "")}
        self._tokens = {name: secrets.token_hex(24) for name in users}
        self.token_file = pki / "tokens.csv"
        lines = [f'{self._tokens[n]},{user},{user},"{groups}"' for n, (user, groups) in users.items()]
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")

    def _component(self, name: str, argv: list) -> Component:
        component = Component(name, [str(self.bin / name), *argv], self.dir / "logs" / f"{name}.log")
        component.start()
        self.components.append(component)
        return component

    def _etcd(self, timeout: float) -> Component:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._component("etcd", [
            "--name=sandbox", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=sandbox=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",  # a throwaway store: fsync only slows the sandbox (envtest does the same)
            "--log-level=warn"])
        waited = etcd.wait_ready(lambda: http_ok(f"{self.etcd_url}/health"), timeout)
        self.log(f"control plane: etcd ready ({waited:.1f} s)")
        return etcd

    def _apiserver(self, etcd: Component, timeout: float) -> Component:
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        self.cert_dir = self.dir / "pki" / "apiserver"
        policy = self.dir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        api = self._component("kube-apiserver", [
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--cert-dir={self.cert_dir}",  # it writes its self-signed serving certificate there
            f"--token-auth-file={self.token_file}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.sa_pub}", f"--service-account-signing-key-file={self.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true", "--profiling=false",
            f"--audit-policy-file={policy}", f"--audit-log-path={self.dir / 'logs' / 'audit.log'}"])
        self.ca_file = self.cert_dir / "apiserver.crt"
        admin = self._tokens["admin"]
        waited = api.wait_ready(lambda: self.ca_file.exists() and http_ok(f"{self.url}/readyz", admin, self.ca_file),
                                timeout, others=(etcd,))
        self.log(f"control plane: kube-apiserver ready ({waited:.1f} s)")
        return api

    def _controllers(self, etcd: Component, api: Component, timeout: float) -> None:
        started = []
        for name, token_name, extra in (
                ("kube-controller-manager", "controller-manager", [
                    f"--service-account-private-key-file={self.sa_key}", f"--root-ca-file={self.ca_file}",
                    "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}"]),
                ("kube-scheduler", "scheduler", [])):
            config = self.dir / f"{name}.kubeconfig"
            self._write_component_kubeconfig(config, name, self._tokens[token_name])
            port = free_port()
            component = self._component(name, [
                f"--kubeconfig={config}", f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}", "--leader-elect=false",
                "--bind-address=127.0.0.1", f"--secure-port={port}", f"--cert-dir={self.dir / 'pki' / name}",
                # client-side rate limits sized for one machine: at the default 20 requests/s the
                # controller manager needs ~5 s to start its ~45 controllers, one discovery at a time
                "--kube-api-qps=500", "--kube-api-burst=1000", *extra])
            started.append((component, port))
        for component, port in started:
            waited = component.wait_ready(lambda p=port: http_ok(f"https://127.0.0.1:{p}/healthz"), timeout,
                                          others=(etcd, api))
            self.log(f"control plane: {component.name} ready ({waited:.1f} s)")

    # ---- kubeconfigs and RBAC ---------------------------------------------------------------
    def _cluster(self) -> dict:
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        return {"name": "sandbox", "cluster": {"server": self.url, "certificate-authority-data": ca}}

    def _write_component_kubeconfig(self, path: Path, user: str, token: str) -> None:
        _write_private(path, {
            "apiVersion": "v1", "kind": "Config", "clusters": [self._cluster()],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": user, "context": {"cluster": "sandbox", "user": user}}],
            "current-context": user})

    def kubectl(self, *args: str, context: str = "sandbox", kubeconfig: Path | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
        """The release's own kubectl against this control plane (as the `sandbox` admin by default)."""
        return subprocess.run([str(self.bin / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig}",
                               f"--context={context}", *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "KUBECACHEDIR": str(self.dir / "kube-cache")})

    def _apply_rbac(self, timeout: float) -> None:
        """Create the namespace the RBAC files name, apply them as they say (`kubectl apply -f`), ask
        the TokenRequest API for a token of each of their ServiceAccounts, and wait for the namespace's
        `default` ServiceAccount."""
        admin = self.dir / "admin.kubeconfig"
        _write_private(admin, self._config({"sandbox": {"token": self._tokens["admin"]}}, namespace=None))
        self._kubectl_ok(admin, "create", "namespace", self.namespace)
        for _context, (_sa, filename) in SERVICE_ACCOUNTS.items():
            self._kubectl_ok(admin, "apply", "-f", str(RBAC_DIR / filename))
        for context, (sa, _filename) in SERVICE_ACCOUNTS.items():
            result = self._kubectl_ok(admin, "create", "token", sa, "-n", self.namespace,
                                      f"--duration={TOKEN_DURATION}")
            self._tokens[context] = result.stdout.strip()
        # Until the controller manager has made the namespace's `default` ServiceAccount, admission
        # refuses every pod that names none (a few seconds after a fresh start): ready means usable.
        manager = next(c for c in self.components if c.name == "kube-controller-manager")
        url = f"{self.url}/api/v1/namespaces/{self.namespace}/serviceaccounts/default"
        waited = manager.wait_ready(lambda: http_ok(url, self._tokens["admin"], self.ca_file), timeout,
                                    others=tuple(c for c in self.components if c is not manager))
        self.log(f"control plane: ServiceAccount default in {self.namespace} ({waited:.1f} s)")

    def _kubectl_ok(self, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
        result = self.kubectl(*args, kubeconfig=kubeconfig)
        if result.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def _config(self, users: dict[str, dict], namespace: str | None) -> dict:
        contexts = []
        for name in users:
            context = {"cluster": "sandbox", "user": name}
            if namespace:
                context["namespace"] = namespace
            contexts.append({"name": name, "context": context})
        return {"apiVersion": "v1", "kind": "Config", "clusters": [self._cluster()],
                "users": [{"name": n, "user": u} for n, u in users.items()],
                "contexts": contexts, "current-context": "sandbox", "preferences": {}}

    def _write_kubeconfig(self) -> None:
        users = {"sandbox": {"token": self._tokens["admin"]}}
        users.update({context: {"token": self._tokens[context]} for context in SERVICE_ACCOUNTS})
        _write_private(self.kubeconfig, self._config(users, self.namespace))

    # ---- facts and stop ---------------------------------------------------------------------
    def version(self) -> dict:
        result = self._kubectl_ok(self.kubeconfig, "get", "--raw", "/version")
        return json.loads(result.stdout)

    def stop(self, timeout: float = 10.0) -> None:
        """Scheduler and controller manager first, then the API server, then etcd."""
        for component in reversed(self.components):
            component.stop(timeout)
        self.components = []


def _write_private(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(data, out, sort_keys=False)


def _run(argv: list[str], what: str) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise ControlPlaneError(f"{what}: {argv[0]} is not installed (apt-get install {argv[0]})") from exc
    if result.returncode != 0:
        raise ControlPlaneError(f"{what} failed ({result.returncode}):\n{result.stderr}")
