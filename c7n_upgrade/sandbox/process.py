"""A sandbox in a child process: `python -m c7n_upgrade.sandbox up --dir D ARGS…`.

Used by the pytest plugin (`--env sandbox`), the project's end-to-end tests and the benchmarks.
`start()` returns once `D/env.yaml` exists (every 0.8 service is up); `stop()` sends SIGTERM.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class SandboxStartError(Exception):
    pass


#: What plays Kubernetes when neither `--cluster` nor the env file says (the one place of this rule): the
#: real control plane for both dialects (Helm 2: the real Helm 2 and Tiller; Helm 3: the real Helm 3).
DEFAULT_CLUSTER = {2: "real", 3: "real"}


def default_cluster(helm_dialect) -> str:
    return DEFAULT_CLUSTER[int(helm_dialect)]


def up_cluster(args) -> str:
    """The cluster `up ARGS` starts: its --cluster, else the default for its helm dialect (--helm, else
    3 with --helm-binary, else 2)."""
    args = list(args)

    def value(flag):
        return args[args.index(flag) + 1] if flag in args[:-1] else None
    return value("--cluster") or default_cluster(value("--helm") or (3 if "--helm-binary" in args else 2))


def without_secrets(environ=None) -> dict[str, str]:
    """This environment minus the suite's and the sandbox's own variables (`C7N_*`, the secrets among
    them): what a child that needs none of them (Tiller, the bootstrap helm) gets."""
    return {k: v for k, v in (os.environ if environ is None else environ).items() if not k.startswith("C7N_")}


def real_helm_environment(directory: Path) -> dict[str, str]:
    """Where a real helm driving sandbox D keeps its config, cache and repositories: inside D, so
    neither the user's own helm config nor another sandbox's `c7n` repo entry gets in the way."""
    home = Path(directory) / "helm-home"
    return {"HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"), "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
            "HELM_REPOSITORY_CACHE": str(home / "repository-cache")}


class SandboxProcess:
    def __init__(self, directory: Path | None = None, *args: str, log=None, environ: dict | None = None):
        self.dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="c7n-sandbox-"))
        self.owned = directory is None  # a temp dir of its own: removed when it stops (MariaDB's ~100 MB too)
        self.args = [str(a) for a in args]
        self.environ = dict(environ or {})  # extra variables for `up` (e.g. the secrets it should use)
        self.log = log or (lambda line: None)
        self.proc: subprocess.Popen | None = None
        self.ready_s: float | None = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:  # e.g. Ctrl-C while it starts: `up` runs in its own session, so stop it here
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def env_file(self) -> Path:
        return self.dir / "env.yaml"

    def real_helm_env(self) -> dict[str, str]:
        """The environment a real helm driving this sandbox runs with: its config inside the sandbox dir,
        the sandbox's kubeconfig."""
        return {**real_helm_environment(self.dir), "KUBECONFIG": str(self.dir / "kubeconfig"),
                "KUBECACHEDIR": str(self.dir / "helm-home" / "kube-cache")}

    def start(self, timeout: float = 180.0) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.env_file.exists():
            raise SandboxStartError(f"{self.dir} already holds a sandbox (env.yaml exists); use an empty directory")
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env.update(self.environ)
        started = time.perf_counter()
        with open(self.dir / "up.log", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "c7n_upgrade.sandbox", "up", "--dir", str(self.dir), *self.args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(ROOT), env=env,
                start_new_session=True)
        on_real = up_cluster(self.args) == "real"
        self.log(f"sandbox: starting a simulated Choerodon 0.8 cluster in {self.dir}"
                 + (" (on the real control plane)" if on_real else ""))
        deadline = time.monotonic() + timeout
        while not self.env_file.exists():
            if self.proc.poll() is not None:
                raise SandboxStartError(f"the sandbox exited with {self.proc.returncode} before it was ready:\n"
                                        + self.log_tail())
            if time.monotonic() > deadline:
                tail = self.log_tail()  # before stop(): a temp dir of its own goes with it
                self.stop()
                raise SandboxStartError(f"the sandbox was not ready after {timeout:.0f}s:\n" + tail)
            time.sleep(0.05)
        self.ready_s = time.perf_counter() - started
        return self.env_file

    def log_tail(self, lines: int = 30) -> str:
        path = self.dir / "up.log"
        if not path.exists():
            return "(no sandbox log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 60.0) -> int | None:
        """Stop the sandbox; a temp dir of its own goes with it (a --sandbox-dir is kept for reading)."""
        try:
            if self.proc is None:
                return None
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
            return self.proc.returncode
        finally:
            if self.owned:
                shutil.rmtree(self.dir, ignore_errors=True)
