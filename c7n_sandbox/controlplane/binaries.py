"""Where the control-plane binaries are, and building them when they are missing.

scripts/build-control-plane.sh owns the build and the cache layout
(${XDG_CACHE_HOME:-$HOME/.cache}/c7n-upgrade/kubernetes-<version>-etcd-<version>/bin/, and
helm-<version>/bin/ for Helm 2 with helm2=True); this module only asks it where that is and runs it,
passing its progress lines on as they come.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from .components import ControlPlaneError

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-control-plane.sh"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
HELM2_COMPONENTS = ("helm", "tiller")
BUILD_TIMEOUT_S = 3600  # a cold build on 2 busy cores; a warm cache returns at once


def _script(helm2: bool) -> list[str]:
    return ["bash", str(BUILD_SCRIPT), *(["--helm2"] if helm2 else [])]


def bin_dir(helm2: bool = False) -> Path:
    result = subprocess.run([*_script(helm2), "--print"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT.name} --print failed:\n{result.stderr}")
    return Path(result.stdout.strip())


def missing(directory: Path, helm2: bool = False) -> list[str]:
    return [c for c in (HELM2_COMPONENTS if helm2 else COMPONENTS) if not (directory / c).is_file()]


def ensure_built(progress=print, helm2: bool = False) -> Path:
    """The bin directory holding every component (Helm 2's helm and tiller with helm2=True); builds
    the missing ones first (progress lines go to `progress`). A failed build raises ControlPlaneError
    with the build's own message."""
    directory = bin_dir(helm2)
    what = "Helm 2" if helm2 else "control plane"
    if not missing(directory, helm2):
        return directory
    progress(f"{what}: building {', '.join(missing(directory, helm2))} (once per machine) into {directory}")
    started = time.monotonic()
    proc = subprocess.Popen(_script(helm2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    timed_out = threading.Event()
    timer = threading.Timer(BUILD_TIMEOUT_S, lambda: (timed_out.set(), _kill_group(proc)))  # a silent build too
    timer.start()
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            progress(lines[-1])
        code = proc.wait()
    finally:
        timer.cancel()
        _kill_group(proc)  # Go's compilers too, should the caller be interrupted
    if timed_out.is_set() or code != 0 or missing(directory, helm2):
        cause = f"timed out after {BUILD_TIMEOUT_S} s" if timed_out.is_set() else f"exit {code}"
        tail = "\n".join(lines[-30:])
        raise ControlPlaneError(f"building {what} failed ({cause}; "
                                f"{BUILD_SCRIPT.relative_to(ROOT)}):\n{tail}")
    progress(f"{what}: built in {time.monotonic() - started:.0f} s")
    return directory


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
