"""How a run ends: SIGTERM and SIGHUP mid-step end it like Ctrl-C (summary printed and kept, lock
released, values files removed, the sandbox it started stopped); a killed run's leftovers are removed
by the next run and its lock is reported stale with the command to break it (a broken lock, and whose
lock may be broken: test_lock_holders.py).

The runs here start a helm call that hangs (`helm-hang`), so the signal arrives while the values
files exist, or wait mid-step for a pod that stays DOWN until the test clears its fault (`never-up`).
"""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.e2e.harness import ObservedSandbox, audited_writes, run_suite, start_suite
from tests.sandbox.kubectl_output import wait_for

pytestmark = pytest.mark.slow
NS = "choerodon-devops-prod"
STEP_1 = "suites/upgrade/test_01_register_server.py"
STEP_2 = "suites/upgrade/test_02_config_server.py"


def values_files(tmpdir: Path) -> list[Path]:
    """The run's values files, wherever under its temp dir they are."""
    return sorted(tmpdir.rglob("c7n-values-*.yaml"))


def processes_mentioning(text: str) -> list[int]:
    """The pids whose command line names `text` (a sandbox directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_mid_step_ends_the_run_like_ctrl_c(tmp_path, signum):
    """--env sandbox: the run starts its own sandbox; the signal comes while helm upgrades register-server."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    sandbox_dir = tmp_path / f"sb-{os.getpid()}-{signum.name.lower()}"
    running = start_suite(tmp_path, STEP_1, "--env", "sandbox", "--sandbox-dir", str(sandbox_dir),
                          "--sandbox-fault", "register-server=helm-hang:120", "--allow-upgrade-in-ci",
                          env_extra={"TMPDIR": str(tmpdir)})
    try:
        wait_for(lambda: values_files(tmpdir), 90, "the values files of the helm upgrade")
        assert processes_mentioning(str(sandbox_dir / "mysql")), "mariadbd of the run's sandbox"
        running.proc.send_signal(signum)
        run = running.finish(timeout=120)
        _check_ended_like_ctrl_c(run, signum, sandbox_dir, tmpdir)
    finally:  # a run that did not end, or did not stop its sandbox: stop them here, by their pids
        running.kill()
        for pid in processes_mentioning(f"up\0--dir\0{sandbox_dir}\0"):
            os.kill(pid, signal.SIGTERM)


def _check_ended_like_ctrl_c(run, signum, sandbox_dir: Path, tmpdir: Path) -> None:
    assert run.exit_code == 2, run.output[-3000:]  # pytest's "interrupted"
    said = "INTERRUPTED at step 1 (register-server)"
    assert said in run.output  # the summary, on the terminal
    assert said in (run.run_dir / "run.log").read_text() and run.outcome()["outcome"] == "interrupted"
    assert not list(tmpdir.iterdir()), "values files (or their directory) left behind"
    assert ("delete", NS, "c7n-upgrade-lock") in audited_writes(sandbox_dir), "lock not released"
    assert (sandbox_dir / "up.log").read_text().rstrip().endswith("sandbox: stopped")
    assert wait_for(lambda: not processes_mentioning(str(sandbox_dir)), 30, "the sandbox and its mariadbd gone")


# ---- one sandbox for a killed run and its stale lock ------------------------------------
@pytest.fixture(scope="module")
def sandbox08(tmp_path_factory):
    base = tmp_path_factory.mktemp("signals")
    with ObservedSandbox(base / f"sb-{os.getpid()}-signals") as sb:
        yield sb, base


def lock(sb):
    status, body = sb.api(f"/api/v1/namespaces/{NS}/configmaps/c7n-upgrade-lock")
    if status == 404:
        return None
    assert status == 200, body
    return body["metadata"]["annotations"]


def test_a_killed_runs_values_are_removed_and_its_lock_reported_stale(sandbox08, tmp_path):
    sb, base = sandbox08
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    sb.fault("register-server=helm-hang:60")
    running = start_suite(base, STEP_1, "--env", str(sb.env_file), "--allow-upgrade-in-ci",
                          env_extra={"TMPDIR": str(tmpdir)})
    try:
        left = wait_for(lambda: values_files(tmpdir), 90, "the values files of the helm upgrade")
    finally:
        running.kill()  # SIGKILL: nothing of the run's own cleanup can happen
        for pid in processes_mentioning("c7n_sandbox.helmwrap"):  # the helm it started, left hanging
            if str(sb.dir) in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace"):
                os.kill(pid, signal.SIGTERM)
        sb.fault("--clear", "register-server")
    assert all(p.exists() for p in left)
    held = lock(sb)
    assert held and held["c7n-upgrade/pid"] == str(running.proc.pid)
    writes = len(sb.writes())
    run = run_suite(base, STEP_1, "--env", str(sb.env_file), "--allow-upgrade-in-ci", env_extra={"TMPDIR": str(tmpdir)})
    assert run.exit_code == 4  # stopped before its first test
    assert f"removed {left[0].parent}: values files of an earlier run that was killed" in run.output
    assert not list(tmpdir.iterdir()), "the killed run's values files are still there"
    assert f"(pid {running.proc.pid}) is no longer running on this host" in run.output
    command = f"Break it on purpose: pytest {STEP_1} --env {sb.env_file} --allow-upgrade-in-ci "
    assert re.search(re.escape(command) + r"[^\n]* --break-lock\b", run.output)  # the command as this run was given
    assert len(sb.writes()) == writes and lock(sb)["c7n-upgrade/pid"] == str(running.proc.pid)
