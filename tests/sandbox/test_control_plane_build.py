"""ensure_built runs the build script with a bound that holds even when the build prints nothing, and
leaves no compiler behind when it gives up."""
import os
import time

import pytest

from c7n_sandbox.controlplane import ControlPlaneError, binaries

pytestmark = pytest.mark.sandbox


def test_a_silent_hanging_build_is_stopped_at_its_bound_with_its_children(tmp_path, monkeypatch):
    pidfile = tmp_path / "child.pid"
    script = tmp_path / "build.sh"
    script.write_text(f"echo compiling\nsleep 300 & echo $! > {pidfile}\nwait\n")
    monkeypatch.setattr(binaries, "bin_dir", lambda helm2=False: tmp_path / "bin")
    monkeypatch.setattr(binaries, "_script", lambda helm2: ["bash", str(script)])
    monkeypatch.setattr(binaries, "BUILD_TIMEOUT_S", 1)
    seen = []
    with pytest.raises(ControlPlaneError, match=r"building control plane failed \(timed out after 1 s") as error:
        binaries.ensure_built(seen.append)
    assert "compiling" in str(error.value) and "compiling" in seen  # the build's own output, as it came
    child = int(pidfile.read_text())
    for _ in range(50):  # the kill is sent before ensure_built returns; the zombie is reaped by init
        if not os.path.exists(f"/proc/{child}") or "Z" in _state(child):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the build's child {child} still runs")


def test_a_failing_build_says_its_exit_code(tmp_path, monkeypatch):
    script = tmp_path / "build.sh"
    script.write_text("echo 'go: module lookup disabled'\nexit 7\n")
    monkeypatch.setattr(binaries, "bin_dir", lambda helm2=False: tmp_path / "bin")
    monkeypatch.setattr(binaries, "_script", lambda helm2: ["bash", str(script)])
    with pytest.raises(ControlPlaneError, match=r"\(exit 7;[^)]*\):\ngo: module lookup disabled"):
        binaries.ensure_built(lambda line: None)


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "Z"
