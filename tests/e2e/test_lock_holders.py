"""Whose lock may be broken: `--break-lock` refuses a holder alive on this host and renewing it (one
ERROR line, exit 4, its pid and age), and breaks it once that holder stopped renewing (frozen), after
which the holder stops before its next write. A run killed while helm upgrades: helm dies with it
(PR_SET_PDEATHSIG) and the lock is stale; a helm that outlives the run (a wrapper that forks it) keeps
the lock busy, never stale, and `--break-lock` refuses it too.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import pytest

from tests.e2e.harness import module_sandbox, run_suite, start_suite
from tests.sandbox.kubectl_output import wait_for

pytestmark = pytest.mark.slow
NS = "choerodon-devops-prod"
LOCK = f"/api/v1/namespaces/{NS}/configmaps/c7n-upgrade-lock"
STEP_1 = "suites/upgrade/test_01_register_server.py"
STEP_2 = "suites/upgrade/test_02_config_server.py"
STEP_15 = "suites/upgrade/test_15_wiki_service.py"


@pytest.fixture(scope="module")
def sandbox08(tmp_path_factory):
    with module_sandbox(tmp_path_factory, "lock-holders") as world:
        yield world


def _api(sb, path, method="GET", body=None):
    return sb.api(path, method, body)


def lock(sb) -> dict | None:
    status, cm = _api(sb, LOCK)
    return cm["metadata"]["annotations"] if status == 200 else None


def errors(run) -> list[str]:
    return [line for line in run.output.splitlines() if line.startswith("ERROR:")]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def test_break_lock_refuses_a_live_holder_and_breaks_a_frozen_one(sandbox08):
    """A waits in step 1 for a pod that stays DOWN. B's --break-lock is refused while A renews; once A is
    frozen (SIGSTOP) and its lock has not been renewed for long, C breaks it; A, continued, stops before
    step 2's helm call."""
    sb, base = sandbox08
    sb.fault("register-server=never-up")
    a = None
    try:
        a = start_suite(base, STEP_1, STEP_2, "--env", str(sb.env_file), "--allow-upgrade-in-ci")
        wait_for(lambda: [w for w in sb.writes() if w[:2] == ["upgrade", "register-server"]], 90,
                 "A's helm upgrade of register-server")
        holder = lock(sb)
        assert holder["c7n-upgrade/pid"] == str(a.proc.pid)
        b = run_suite(base, STEP_15, "--env", str(sb.env_file), "--allow-upgrade-in-ci", "--break-lock")
        assert b.exit_code == 4, b.output[-3000:]  # stopped before its first test
        assert len(errors(b)) == 1, b.output[-3000:]
        line = errors(b)[0]
        assert "--break-lock refused: another upgrade run holds the lock" in line
        assert f"(pid {a.proc.pid}) is alive on this host, renewed " in line
        assert re.search(r"since \S+ \((\d+[dhms] ?)+ ago\)", line), line  # its age
        assert f"`kill {a.proc.pid}`" in line and "Next: stop that run first" in b.output
        assert lock(sb) == holder or lock(sb)["c7n-upgrade/owner"] == holder["c7n-upgrade/owner"]
        assert not [w for w in sb.writes() if w[:2] == ["upgrade", "wiki-service"]]

        os.kill(a.proc.pid, signal.SIGSTOP)  # frozen: alive, no longer renewing
        try:
            _, cm = _api(sb, LOCK)
            cm["metadata"]["annotations"]["c7n-upgrade/renewed"] = "2020-01-01T00:00:00Z"
            assert _api(sb, LOCK, "PUT", cm)[0] == 200
            c = run_suite(base, STEP_15, "--env", str(sb.env_file), "--allow-upgrade-in-ci", "--break-lock")
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        assert "--break-lock: broke the lock of" in c.output and holder["c7n-upgrade/owner"] in c.output
    except BaseException:
        if a:
            a.kill()  # A would wait in step 1 for its whole step timeout
        raise
    finally:
        sb.fault("--clear", "register-server")  # A's step 1 can finish now
    run_a = a.finish(timeout=180)
    assert not [w for w in sb.writes() if w[:2] == ["upgrade", "config-server"]], "A wrote after losing its lock"
    outcomes = run_a.outcomes()
    assert outcomes[f"{STEP_1}::test_rollout"] == "passed", run_a.output[-3000:]
    assert outcomes[f"{STEP_2}::test_upgrade"] == "failed"
    assert "stopping before helm upgrade config-server: another run may be upgrading now" in run_a.output


def _killed_while_helm_upgrades(sb, base, env_file, release: str) -> tuple[int, dict]:
    """Start a run that upgrades `release` with a hanging helm, SIGKILL it once the lock names its helm
    child; the run's pid and the lock as it was left."""
    sb.fault(f"{release}=helm-hang:90")
    step = {"iam-service": "suites/upgrade/test_04_iam_service.py",
            "manager-service": "suites/upgrade/test_03_manager_service.py"}[release]
    running = start_suite(base, step, "--env", str(env_file), "--allow-upgrade-in-ci", "--break-lock")
    try:
        def named() -> bool:  # this run's lock (an earlier test's may be left), naming its helm
            held = lock(sb) or {}
            return held.get("c7n-upgrade/pid") == str(running.proc.pid) and bool(held.get("c7n-upgrade/helm-pid"))
        wait_for(lambda: named() or running.proc.poll() is not None, 90, "the lock naming the run's helm child")
    finally:
        ended = running.proc.poll() is not None
        running.kill()  # SIGKILL: the run's own cleanup cannot happen (helm has its own session anyway)
    assert not ended, "the run ended before its helm call: " + "".join(running.proc.communicate())[-3000:]
    return running.proc.pid, lock(sb)


def test_a_run_killed_while_helm_upgrades_takes_its_helm_along_and_leaves_a_stale_lock(sandbox08):
    sb, base = sandbox08
    revisions = _history(sb, "manager-service")
    try:
        pid, held = _killed_while_helm_upgrades(sb, base, sb.env_file, "manager-service")
        helm = int(held["c7n-upgrade/helm-pid"])
        assert held["c7n-upgrade/pid"] == str(pid)
        assert held["c7n-upgrade/helm-command"].startswith(str(sb.dir / "bin" / "helm") + " upgrade manager-service")
        gone = wait_for(lambda: not _alive(helm), 15, "helm ended with its run (parent-death signal)")
        run = run_suite(base, STEP_15, "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    finally:
        sb.fault("--clear", "manager-service")
    assert gone and run.exit_code == 4, run.output[-3000:]
    assert f"(pid {pid}) is no longer running on this host. Break it on purpose" in errors(run)[0]
    assert "busy" not in run.output
    # D/bin/helm logs a call as it ends: the killed run's ended by SIGTERM in its hang, before helm ran (or
    # during the wrapper's start-up, unlogged); a helm that deployed would log 0 and add a revision
    killed = [c["exit"] for c in sb.helm_calls() if c["argv"][:2] == ["upgrade", "manager-service"]]
    assert killed in ([], [128 + signal.SIGTERM]), killed
    assert _history(sb, "manager-service") == revisions, "the killed run's helm deployed"
    _api(sb, LOCK, "DELETE")


def test_a_helm_that_outlives_its_run_keeps_the_lock_busy(sandbox08):
    """helm behind a wrapper that forks it (no exec): the wrapper dies with the run, helm does not. The lock
    names helm's process group, so the next run calls it busy, with pid and command, and --break-lock
    refuses it; once helm has ended the lock is stale."""
    sb, base = sandbox08
    wrapper = base / "forking-helm"
    wrapper.write_text(f"#!/bin/sh\n{sb.dir / 'bin' / 'helm'} \"$@\"\n")
    wrapper.chmod(0o755)
    env_file = sb.env_with("env-forking-helm", helm={"binary": str(wrapper)})
    helm = None
    try:
        pid, held = _killed_while_helm_upgrades(sb, base, env_file, "iam-service")
        helm = int(held["c7n-upgrade/helm-pid"])
        wait_for(lambda: not _alive(helm), 15, "the wrapper ended with its run")
        assert any(_alive(int(p)) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == helm)
        plain = run_suite(base, STEP_15, "--env", str(sb.env_file), "--allow-upgrade-in-ci")
        breaking = run_suite(base, STEP_15, "--env", str(sb.env_file), "--allow-upgrade-in-ci", "--break-lock")
    finally:
        if helm is not None:
            try:
                os.killpg(helm, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sb.fault("--clear", "iam-service")
    command = f"helm pid {helm} (`{wrapper} upgrade iam-service c7n/iam-service"
    for run in (plain, breaking):
        assert run.exit_code == 4 and len(errors(run)) == 1, run.output[-3000:]
        assert command in errors(run)[0] and "is still running on this host: the lock is busy, not stale" in errors(run)[0]
        assert "Break it on purpose" not in run.output and "Next: wait for that helm to finish" in run.output
    assert errors(breaking)[0].startswith("ERROR: --break-lock refused")
    assert lock(sb)["c7n-upgrade/pid"] == str(pid)  # nobody took it
    assert not [w for w in sb.writes() if w[:2] == ["upgrade", "wiki-service"]]
    after = run_suite(base, STEP_15, "--env", str(sb.env_file), "--allow-upgrade-in-ci")
    assert f"(pid {pid}) is no longer running on this host. Break it on purpose" in after.output
    _api(sb, LOCK, "DELETE")


def _history(sb, release: str) -> list[tuple]:
    """`helm history RELEASE` (the sandbox's Helm 2, the default): (revision, status, chart) per revision."""
    out = subprocess.run([str(sb.dir / "bin" / "helm"), "history", release, "--output", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [(h["revision"], h["status"], h["chart"]) for h in json.loads(out)]


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1
