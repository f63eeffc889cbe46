"""One control-plane process (etcd, kube-apiserver, …): started in its own process group, killed with
its parent (PR_SET_PDEATHSIG), its output in a log file, stopped with SIGTERM then SIGKILL."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

PR_SET_PDEATHSIG = 1


class ControlPlaneError(Exception):
    """A component could not be built, did not start, died, or did not become ready in time."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the component binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux/glibc: the process group and stop() still end it


class Component:
    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict | None = None):
        self.name = name
        self.env = env  # None: this process's environment
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            out.write(("$ " + " ".join(self.argv) + "\n").encode())
            out.flush()
            try:
                self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True,
                                             preexec_fn=_die_with_parent, env=self.env)
            except OSError as exc:
                raise ControlPlaneError(f"{self.name} could not be started ({self.argv[0]}): {exc}") from exc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def died(self) -> ControlPlaneError:
        code = self.proc.returncode if self.proc else None
        return ControlPlaneError(f"{self.name} exited with code {code} before it was ready "
                                 f"(log: {self.log_path}); its last lines:\n{self.log_tail()}")

    def wait_ready(self, probe, timeout: float, others: tuple["Component", ...] = ()) -> float:
        """Poll probe() until it is true; fail at once, with the log's tail, if this component or one
        of `others` dies, and after `timeout` s. Returns the seconds waited."""
        started = time.monotonic()
        while True:
            for c in (self, *others):
                if not c.alive():
                    raise c.died()
            if probe():
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise ControlPlaneError(f"{self.name} was not ready after {timeout:.0f} s "
                                        f"(log: {self.log_path}); its last lines:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL after `timeout` s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)


def http_ok(url: str, token: str | None = None, ca_file: Path | None = None, timeout: float = 2.0) -> bool:
    """True when GET url answers 200. TLS is verified against ca_file when given (the API server);
    without it the component's self-signed loopback certificate is accepted (health checks only)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        context = None
        if url.startswith("https:"):  # ca_file may still be half-written by the API server: not yet
            context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else ssl._create_unverified_context()
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False
