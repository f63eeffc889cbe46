"""controlplane/helm2.py's Tiller that never becomes ready: the error names it and no process stays."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from c7n_sandbox.controlplane.components import ControlPlaneError
from c7n_sandbox.controlplane.helm2 import Tiller

pytestmark = pytest.mark.sandbox


def test_a_tiller_not_ready_in_time_is_stopped(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tiller").write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 300\n")  # never ready
    (bin_dir / "tiller").chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": [], "clusters": [],
                                          "users": [], "current-context": ""}))
    tiller = Tiller(tmp_path / "tiller", bin_dir, kubeconfig)
    with pytest.raises(ControlPlaneError, match="tiller was not ready after 2 s"):
        tiller.start(timeout=2)
    pid = int((tmp_path / "pid").read_text())
    try:
        assert tiller.component.proc.poll() is not None, "Tiller still runs after its start failed"
    finally:
        if tiller.component.proc.poll() is None:
            os.kill(pid, signal.SIGKILL)
            tiller.component.proc.wait(5)
    assert not Path(f"/proc/{pid}").exists()
