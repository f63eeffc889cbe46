"""One container instance as a child process of this machine: its own process group, killed with the
node's thread that started it (PR_SET_PDEATHSIG), stdout and stderr in one log file per instance in
the CRI format the kubelet reads (`<RFC3339Nano> <stdout|stderr> <F|P> <line>`)."""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path

PR_SET_PDEATHSIG = 1
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_REF = re.compile(r"\$\((\w+)\)|\$\$\(")


try:  # resolved here, once: the node forks from many threads, so the child must not dlopen (it could
    # deadlock on a lock another thread held at fork time); it only calls prctl
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:  # in the child, between fork and exec
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGKILL))


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's $(VAR) expansion: known names are replaced, $$( escapes, unknown stay as written."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$(":
            return "$("
        return env.get(m.group(1), m.group(0))
    return _REF.sub(sub, text)


def cri_record(stream: str, line: bytes) -> bytes:
    """One CRI log record: a line without its newline is a partial one (P)."""
    tag = b"F" if line.endswith(b"\n") else b"P"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
    return b" ".join((stamp, stream.encode(), tag, line.rstrip(b"\n"))) + b"\n"


class Process:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, stdin: bool = False):
        """stdin: the container's `stdin: true`, a pipe kept open for `kubectl attach -i`."""
        self.argv, self.env, self.cwd, self.log_path, self.stdin = argv, env, cwd, log_path, stdin
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Raises OSError as exec would fail (executable not found, permission denied)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL, env=self.env, cwd=self.cwd, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        self._log = open(self.log_path, "ab", buffering=0)
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._copy, args=(pipe, stream), daemon=True,
                                          name=f"log {self.log_path.parent.name} {stream}")
                         for pipe, stream in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))]
        for reader in self._readers:
            reader.start()

    def _copy(self, pipe, stream: str) -> None:
        """Each line as a CRI log record; a last line without its newline is a partial one (P)."""
        for line in iter(pipe.readline, b""):
            with self._lock:
                self._log.write(cri_record(stream, line))
        pipe.close()

    def drain(self, timeout: float = 1.0) -> None:
        """Wait (bounded) for what the process wrote before it exited to reach the log. A child it
        left running with the same pipes keeps its reader going after this returns."""
        for reader in getattr(self, "_readers", ()):
            reader.join(timeout)

    def poll(self) -> int | None:
        """The exit code as a container runtime reports it: 128+N when killed by signal N."""
        code = self.proc.poll() if self.proc else None
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def kill(self, grace: float = 0.0) -> int:
        """SIGTERM to the process group, SIGKILL after `grace` s (at once when 0); the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
            try:
                self.proc.wait(grace if grace > 0 else 5)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        self._signal(signal.SIGKILL)  # what the shell left behind in its group
        self.drain(0.5)
        return self.poll() or 0

    def _signal(self, sig: int) -> None:
        kill_group(self.proc, sig)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """`sig` to the process group `proc` leads (started with start_new_session), if it still runs."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_probe_command(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str]:
    """An exec probe: (exit code, output); a timeout counts as a failure (code -1)."""
    try:
        result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        return -1, f"command timed out after {timeout:g}s"
    except OSError as exc:
        return 126, str(exc)
    return result.returncode, (result.stdout + result.stderr).decode(errors="replace")
