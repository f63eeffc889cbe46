"""`python -m c7n_sandbox up`: ready with the 0.8 installation on the real control
plane, and stopped by SIGTERM when running or SIGINT while starting, leaving no process behind; with the
real Helm 3, and with the real Helm 2 (`--helm 2`), whose Tiller goes with it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from c7n_upgrade.plan import load_plan
from c7n_sandbox.process import SandboxProcess

pytestmark = pytest.mark.sandbox
PLAN = load_plan("0.8-to-0.9")


HELMS = pytest.mark.parametrize("helm", ["3", "2"])


def _processes_naming(directory: Path, *also: str) -> list[str]:
    """Command lines of this machine's processes that name the sandbox directory (or one of `also`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(text in cmdline for text in (str(directory), *also)):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def _tiller(directory: Path) -> tuple[str, ...]:
    """Tiller's command line names its address, not the directory: `--listen HOST` (sandbox.json)."""
    host = json.loads((directory / "sandbox.json").read_text()).get("tiller_host")
    return (f"--listen {host} ",) if host else ()


def _gone(directory: Path, *also: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _processes_naming(directory, *also)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@HELMS
def test_ready_with_every_0_8_release_then_sigterm_leaves_no_process(tmp_path, helm):
    directory = tmp_path / "sb"
    sandbox = SandboxProcess(directory, "--helm", helm)
    tiller: tuple[str, ...] = ()
    try:
        sandbox.start()
        print(f"up --helm {helm}: ready in {sandbox.ready_s:.1f} s")
        tiller = _tiller(directory)
        assert bool(tiller) == (helm == "2")
        assert yaml.safe_load((directory / "env.yaml").read_text())["helm"]["dialect"] == int(helm)
        config = yaml.safe_load((directory / "kubeconfig").read_text())
        assert [c["name"] for c in config["contexts"]] == ["sandbox", "c7n-upgrade", "c7n-upgrade-check"]
        pods = subprocess.run(["kubectl", "--kubeconfig", str(directory / "kubeconfig"), "get", "pods", "-o", "json"],
                              capture_output=True, text=True, timeout=30)
        items = json.loads(pods.stdout)["items"]
        releases = {p["metadata"]["labels"]["choerodon.io/release"] for p in items}
        assert releases == {s.release for s in PLAN.steps if s.from_version}
        assert all(c["ready"] for p in items for c in p["status"]["containerStatuses"])
        assert _processes_naming(directory), "the sandbox's processes name its directory"
        if tiller:
            assert len(_processes_naming(Path("/nonexistent"), *tiller)) == 1, "Tiller runs"
    finally:
        code = sandbox.stop()
    assert code == 0, sandbox.log_tail()
    assert "sandbox: stopped" in sandbox.log_tail()
    assert _gone(directory, *tiller) == []


@HELMS
def test_sigint_while_installing_stops_what_was_started(tmp_path, helm):
    directory = tmp_path / "sb"
    directory.mkdir()
    log = directory / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "c7n_sandbox", "up", "--dir", str(directory),
                                 "--helm", helm], stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=Path(__file__).resolve().parents[2],
                                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    try:
        deadline = time.monotonic() + 120
        while "installing the 0.8 releases" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        tiller = _tiller(directory)
        assert bool(tiller) == (helm == "2")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "SIGINT while starting; stopped" in log.read_text()
    assert not (directory / "env.yaml").exists()
    assert _gone(directory, *tiller) == []
