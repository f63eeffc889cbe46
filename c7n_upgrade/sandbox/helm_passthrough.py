"""A minimal D/bin/helm for the real control plane: runs the real helm with the same argv and streams,
returns its exit code, forwards SIGTERM/SIGINT to it, and appends the call to D/helm-calls.jsonl
(helm/calllog.py). No faults: a stand-in until the full wrapper (issue 16, point 6) replaces it.

    write_wrapper(sandbox_dir, real_helm)   # writes D/bin/helm
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from .helm.calllog import log_call
from .process import real_helm_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def write_wrapper(sandbox_dir: Path, real_helm: Path) -> Path:
    """D/bin/helm: `python -m c7n_upgrade.sandbox.helm_passthrough` with the sandbox's settings."""
    directory = Path(sandbox_dir)
    path = directory / "bin" / "helm"
    path.parent.mkdir(parents=True, exist_ok=True)
    script = ("#!/bin/sh\n"
              f"C7N_SANDBOX_DIR={shlex.quote(str(directory))} C7N_REAL_HELM={shlex.quote(str(real_helm))} "
              f"PYTHONPATH={shlex.quote(str(PROJECT_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}} "
              f"exec {shlex.quote(sys.executable)} -m c7n_upgrade.sandbox.helm_passthrough \"$@\"\n")
    tmp = path.with_name(".helm.tmp")
    tmp.write_text(script)
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return path


def main(argv: list[str]) -> int:
    directory = Path(os.environ["C7N_SANDBOX_DIR"])
    # the real helm's config, cache and repositories stay in the sandbox unless the caller chose others
    env = {**real_helm_environment(directory), **os.environ}
    child = subprocess.Popen([os.environ["C7N_REAL_HELM"], *argv], env=env)

    def forward(signum, _frame):
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = child.wait()
    code = 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
    log_call(directory, argv, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
