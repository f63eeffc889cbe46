"""Running helm: every call has a limit (a wrapper's children stopped with it), says it is still
running, passes an interrupt on to helm and lets it stop cleanly; a hang makes the next calls fail
at once naming it; helm runs in the environment it is given."""
from __future__ import annotations

import signal
import stat
import time

import pytest

from c7n_upgrade.helm import HelmClient, HelmError, SubprocessRunner


def script(tmp_path, body: str, name: str = "helm"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_call_past_its_limit_is_stopped_with_its_children(tmp_path):
    finished = tmp_path / "child-finished"  # written only if the child outlives its 30 s sleep
    helm = script(tmp_path, f"echo started; (sleep 30; echo done > {finished}) & echo $! > {tmp_path}/child; wait\n")
    lines = []
    runner = SubprocessRunner(timeout=2, on_progress=lines.append)
    result = runner([helm, "upgrade", "iam-service"])
    assert result.exit_code == 124 and "did not finish within 2s and was stopped (helm hung)" in result.stderr
    assert result.stdout == "started\n"
    assert not finished.exists(), "the call returned only after the child had finished (it waited for its output)"
    child = int((tmp_path / "child").read_text())
    with pytest.raises(ProcessLookupError):
        import os
        for _ in range(50):  # reaped by init shortly after the kill
            os.kill(child, 0)
            time.sleep(0.1)
    assert lines and lines[0].startswith("helm upgrade iam-service: still running after")


def test_after_a_hang_the_next_calls_fail_at_once_naming_it(tmp_path):
    calls = tmp_path / "calls"
    helm = script(tmp_path, f"echo x >> {calls}; sleep 30\n")
    client = HelmClient(helm, namespace="ns", timeout=1)
    with pytest.raises(HelmError, match="exited 124"):
        client.dialect()
    for _ in range(3):
        with pytest.raises(HelmError, match=r"helm hung: `\S+ version --short ...` did not finish within 1s"):
            client.list_releases()
    assert calls.read_text() == "x\n"  # helm was not started again


class _Interrupt(BaseException):
    pass


def test_an_interrupt_reaches_helm_which_may_finish_cleanly(tmp_path):
    marker, ready = tmp_path / "got-int", tmp_path / "ready"
    helm = script(tmp_path, f"trap 'echo int > {marker}; kill $!; exit 130' INT\ntouch {ready}\nsleep 30 & wait\n")

    def interrupt(signum, frame):
        if not ready.exists():  # a busy machine: the script has not set its trap yet, look again soon
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            return
        raise _Interrupt()

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(_Interrupt):
            SubprocessRunner(timeout=60)([helm, "upgrade", "x"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert marker.read_text() == "int\n"


def test_helm_runs_in_the_environment_it_is_given(tmp_path):
    out = tmp_path / "env"
    helm = script(tmp_path, f"env > {out}; echo v3.17.3\n")
    HelmClient(helm, namespace="ns", environ={"PATH": "/usr/bin:/bin", "KEEP": "1"}).dialect()
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert seen.get("KEEP") == "1" and "HOME" not in seen


def test_a_write_asks_before_it_runs(tmp_path):
    calls = tmp_path / "calls"
    helm = script(tmp_path, f"echo \"$@\" >> {calls}; echo v3.17.3\n")
    client = HelmClient(helm, namespace="ns")

    def refuse(what):
        raise RuntimeError(f"lock lost before {what}")

    client.before_write = refuse
    with pytest.raises(RuntimeError, match="lock lost before helm upgrade iam"):
        client.write("upgrade", "iam", "c7n/iam-service", version="0.9.0")
    assert "upgrade" not in calls.read_text()


def test_values_live_in_a_private_dir_and_a_killed_runs_dir_is_removed_later(tmp_path):
    import os
    import subprocess
    import sys

    from c7n_upgrade.helm import private_values_dir, remove_leftover_values_dirs, values_file

    mine = private_values_dir(tmp_path)
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700 and str(os.getpid()) in mine.name
    with values_file({"env": {"open": {"SPRING_DATASOURCE_PASSWORD": "pw"}}}, mine) as path:
        assert path.parent == mine and stat.S_IMODE(path.stat().st_mode) == 0o600
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = tmp_path / f"c7n-upgrade-values-{dead.pid}-abc"
    killed.mkdir()
    (killed / "c7n-values-1.yaml").write_text("password: pw\n")
    other = tmp_path / "c7n-upgrade-values-notapid"
    other.mkdir()
    assert remove_leftover_values_dirs(tmp_path) == [killed]
    assert not killed.exists() and mine.exists() and other.exists()


# ---- helm.dialect stated in the env -----------------------------------------------------------------
def _stated(dialect, answer):
    from c7n_upgrade.helm import HelmClient
    from c7n_upgrade.helm.results import CommandResult

    calls = []

    def runner(argv, environ):
        calls.append(argv[1:])
        return CommandResult(list(argv), *answer(argv[1:]))

    return HelmClient("helm", namespace="ns", runner=runner, dialect=dialect), calls


def test_a_stated_dialect_asks_no_version_and_speaks_it():
    helm, calls = _stated(3, lambda args: (0, "[]", ""))
    assert helm.list_releases() == [] and helm.dialect() == 3
    assert calls == [["list", "-n", "ns", "-o", "json", "--all"]]


def test_a_helm_3_where_the_env_states_2_is_one_cause_naming_both():
    from c7n_upgrade.helm import HelmError

    helm, _ = _stated(2, lambda args: (1, "", "Error: unknown flag: --tiller-namespace\n"))
    with pytest.raises(HelmError, match=r"the env states helm.dialect: 2, but helm answers as Helm 3 .*unknown "
                                        r"flag: --tiller-namespace.*set helm.dialect: 3, or remove it"):
        helm.list_releases()


def test_a_helm_2_where_the_env_states_3_is_one_cause_by_its_words_or_its_output():
    from c7n_upgrade.helm import HelmError

    helm, _ = _stated(3, lambda args: (0, '{"Next": "", "Releases": []}', ""))
    with pytest.raises(HelmError, match="states helm.dialect: 3, but helm answers as Helm 2 .*the other dialect's shape"):
        helm.list_releases()
    helm, _ = _stated(3, lambda args: (1, "", "Error: unknown shorthand flag: 'n' in -n\n"))
    with pytest.raises(HelmError, match="answers as Helm 2"):
        helm.list_releases()


def test_an_unstated_dialect_keeps_helms_own_error():
    from c7n_upgrade.helm import HelmClient, HelmError
    from c7n_upgrade.helm.results import CommandResult

    def runner(argv, environ):
        if argv[1] == "version":
            return CommandResult(list(argv), 0, "v3.17.3+g1\n", "")
        return CommandResult(list(argv), 1, "", "Error: unknown flag: --tiller-namespace\n")

    with pytest.raises(HelmError) as err:
        HelmClient("helm", namespace="ns", runner=runner).list_releases()
    assert "helm.dialect" not in str(err.value)


@pytest.mark.parametrize("dialect, argv", [
    (3, ["list", "-n", "ns", "-o", "json", "--all", "--filter", "^iam\\-service$"]),
    (2, ["list", "^iam\\-service$", "--namespace", "ns", "--output", "json", "--all", "--tiller-namespace",
         "kube-system"]),
])
def test_one_release_is_listed_by_an_anchored_filter_in_each_dialect(dialect, argv):
    listing = ('[{"name": "iam-service-2", "chart": "iam-service-0.8.0", "status": "deployed"}]' if dialect == 3
               else '{"Releases": [{"Name": "iam-service-2", "Chart": "iam-service-0.8.0", "Status": "DEPLOYED"}]}')
    helm, calls = _stated(dialect, lambda args: (0, listing, ""))
    assert helm.list_releases(only="iam-service") == []  # a filter is a regex: the name must match whole
    assert calls == [argv]


def test_unreadable_list_output_is_not_blamed_on_the_dialect():
    from c7n_upgrade.helm import HelmDialectMismatch, HelmParseError

    helm, _ = _stated(3, lambda args: (0, "WARNING: kubeconfig is group-readable\n[]", ""))
    with pytest.raises(HelmParseError) as err:
        helm.list_releases()
    assert not isinstance(err.value, HelmDialectMismatch)


def test_helm_dies_with_the_run_even_when_the_run_is_sigkilled(tmp_path):
    """A run (here a small Python process) starts helm through the runner and is SIGKILLed: helm, in
    its own session, gets SIGTERM from the kernel (PR_SET_PDEATHSIG) instead of writing on unseen."""
    import os
    import subprocess
    import sys

    helm = script(tmp_path, "exec sleep 30\n")
    pidfile = tmp_path / "helm.pid"
    run = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from c7n_upgrade.helm import SubprocessRunner\n"
        f"SubprocessRunner(timeout=60)([{helm!r}, 'upgrade'], on_child=lambda pid: pid and "
        f"Path({str(pidfile)!r}).write_text(str(pid)))\n")])
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    assert os.getpgid(pid) == pid  # its own process group, out of reach of a signal to the run's group
    run.kill()
    run.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        status = open(f"/proc/{pid}/stat").read().split(") ")[-1].split()[0]
        if status == "Z":  # ended; init reaps it
            break
        time.sleep(0.05)
    alive = os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split(") ")[-1].split()[0] != "Z"
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "helm outlived the SIGKILLed run"


def test_a_write_tells_who_listens_which_helm_runs_and_when_it_ended(tmp_path):
    heard = []
    client = HelmClient(script(tmp_path, "exit 0\n"), namespace="ns")
    client._dialect = 3
    client.on_write_child = lambda pid, argv: heard.append((pid, argv[1]))
    client.write("upgrade", "iam-service", "c7n/iam-service", version="0.9.0")
    client.run(["list"])  # a read is not a helm child worth a lock record
    assert [h[1] for h in heard] == ["upgrade", "upgrade"] and isinstance(heard[0][0], int) and heard[1][0] is None
