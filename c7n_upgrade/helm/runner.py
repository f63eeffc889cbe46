"""Running one helm command: a per-call limit, progress while it runs, its own process group, and
an interrupt (SIGINT/SIGTERM/SIGHUP of the run) passed on to it with time to finish cleanly.

helm dies with the run where the OS allows it: on Linux it gets SIGTERM when the run's process dies
(PR_SET_PDEATHSIG), even by SIGKILL or the OOM killer, so no helm write goes on unseen. That reaches
the process the run started only: a wrapper that forks helm instead of exec'ing it leaves that helm
alive, which is why the lock also records helm's process group (see kube/lock.py)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from typing import Callable, Optional

from .results import CommandResult, command_line

#: how long helm may take to stop after the run was interrupted, before it is killed
INTERRUPT_GRACE = 10.0
#: how long a command past its limit may take to stop after SIGTERM, before SIGKILL
KILL_GRACE = 3.0


PR_SET_PDEATHSIG = 1


def _prctl():
    """libc's prctl, resolved once in the parent (no dynamic loading between fork and exec); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def die_with_parent() -> Optional[Callable[[], None]]:
    """A preexec_fn making the child get SIGTERM when this process dies (None where the OS cannot)."""
    if _PRCTL is None:
        return None
    parent, prctl = os.getpid(), _PRCTL

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # an ignored SIGINT is inherited: the interrupt this run
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)  # forwards must reach helm
        if os.getppid() != parent:  # the run died between fork and prctl
            os._exit(1)
    return preexec


def _text(data) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")


class SubprocessRunner:
    """The default runner: helm in its own process group (a wrapper's children go with it), killed
    when it passes its limit; `on_progress(line)` hears about it every few seconds while it runs.
    It never raises for a failed command; an interrupt stops helm (SIGINT, then SIGKILL) and goes on."""

    def __init__(self, timeout: float = 120.0, on_progress: Optional[Callable[[str], None]] = None):
        self.timeout = timeout
        self.on_progress = on_progress

    def __call__(self, argv: list[str], env: Optional[dict] = None, timeout: Optional[float] = None,
                 on_child: Optional[Callable[[Optional[int]], None]] = None) -> CommandResult:
        """`on_child(pid)` once helm started, `on_child(None)` once it ended (the lock records it)."""
        limit = float(timeout or self.timeout)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True,
                                    preexec_fn=die_with_parent())
        except FileNotFoundError:
            return CommandResult(list(argv), 127, "", f"Error: helm binary {argv[0]!r} not found\n", 0.0)
        except PermissionError:
            return CommandResult(list(argv), 126, "", f"Error: helm binary {argv[0]!r} is not executable\n", 0.0)
        try:
            return self._wait(proc, argv, limit, start, on_child)
        finally:
            if on_child is not None and proc.poll() is not None and not _group_alive(proc.pid):
                on_child(None)  # a group member left behind (a wrapper's helm) keeps the record

    def _wait(self, proc: subprocess.Popen, argv: list[str], limit: float, start: float,
              on_child: Optional[Callable[[Optional[int]], None]]) -> CommandResult:
        tick = max(1.0, min(15.0, limit / 4))
        try:
            if on_child is not None:  # inside: an interrupt while it is recorded still stops helm
                on_child(proc.pid)
            while True:
                elapsed = time.monotonic() - start
                try:
                    out, err = proc.communicate(timeout=max(0.1, min(tick, limit - elapsed)))
                    return CommandResult(list(argv), proc.returncode, out, err, time.monotonic() - start)
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - start
                    if elapsed >= limit:
                        out, err = _stop(proc, signal.SIGTERM, KILL_GRACE)
                        return CommandResult(list(argv), 124, out,
                                             f"{err}Error: `{command_line(argv[:3])} ...` did not finish within "
                                             f"{limit:.0f}s and was stopped (helm hung)\n", elapsed)
                    if self.on_progress is not None:
                        self.on_progress(f"helm {' '.join(argv[1:3])}: still running after {elapsed:.0f}s "
                                         f"(limit {limit:.0f}s)")
        except BaseException:  # the run is interrupted: let helm stop cleanly, then go on
            _stop(proc, signal.SIGINT, INTERRUPT_GRACE)
            raise


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(proc: subprocess.Popen, sig: int, grace: float) -> tuple[str, str]:
    """Signal helm's process group, wait `grace` seconds, then kill it; what it printed."""
    for signum, wait in ((sig, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            out, err = proc.communicate(timeout=wait)
            return _text(out), _text(err)
        except subprocess.TimeoutExpired:
            continue
        except (KeyboardInterrupt, OSError, ValueError):
            break
    return "", ""
