"""Where the control-plane binaries are, and building them when they are missing.

scripts/build-control-plane.sh owns the build and the cache layout
(${XDG_CACHE_HOME:-$HOME/.cache}/c7n-upgrade/kubernetes-<version>-etcd-<version>/bin/); this module
only asks it where that is and runs it, passing its progress lines on as they come.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .components import ControlPlaneError

ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = ROOT / "scripts" / "build-control-plane.sh"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
BUILD_TIMEOUT_S = 3600  # a cold build on 2 busy cores; a warm cache returns at once


def bin_dir() -> Path:
    result = subprocess.run(["bash", str(BUILD_SCRIPT), "--print"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT.name} --print failed:\n{result.stderr}")
    return Path(result.stdout.strip())


def missing(directory: Path) -> list[str]:
    return [c for c in COMPONENTS if not (directory / c).is_file()]


def ensure_built(progress=print) -> Path:
    """The bin directory holding every component; builds the missing ones first (progress lines
    go to `progress`). A failed build raises ControlPlaneError with the build's own message."""
    directory = bin_dir()
    if not missing(directory):
        return directory
    progress(f"control plane: building {', '.join(missing(directory))} (once per machine) into {directory}")
    started = time.monotonic()
    proc = subprocess.Popen(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:  # the script prints a line at least every 100 packages
        line = line.rstrip("\n")
        lines.append(line)
        progress(line)
        if time.monotonic() - started > BUILD_TIMEOUT_S:
            proc.kill()
            break
    code = proc.wait(60)
    if code != 0 or missing(directory):
        tail = "\n".join(lines[-30:])
        raise ControlPlaneError(f"building the control plane failed (exit {code}; "
                                f"{BUILD_SCRIPT.relative_to(ROOT)}):\n{tail}")
    progress(f"control plane: built in {time.monotonic() - started:.0f} s")
    return directory
