"""D/bin/helm on the real control plane: a thin wrapper around the real helm binary (issue 16).

One call installs it (the launcher's API)::

    write_wrapper(sandbox_dir, real_helm_path)   # -> D/bin/helm, a sh script that execs
                                                  #    `python -S -m c7n_sandbox.helmwrap "$@"`

For a real helm binary: Helm 3, or Helm 2 with Tiller (controlplane/helm2.py; the caller gives
HELM_HOST and HELM_HOME: write_wrapper's env).

Each invocation of D/bin/helm:
- runs the real helm with the caller's argv (plus the fault's extra flags, below); stdin, stdout and
  stderr are the caller's own file descriptors (streamed, nothing buffered or rewritten); the exit
  status is helm's; SIGTERM, SIGINT and SIGHUP are forwarded to helm, which is waited for (no orphan;
  one the caller ignores stays ignored, by helm too), and a helm killed by a signal makes the wrapper
  die by the same signal; a wrapper killed by SIGKILL leaves helm a SIGTERM (PR_SET_PDEATHSIG);
- appends one line to D/helm-calls.jsonl (helmwrap_calllog.py: the caller's argv, secrets masked);
- re-reads D/faults.json (faults.py) and, for an upgrade/install of a faulted release (its actual
  name, its chart's name or the plan's release name for that chart) that is not a dry run:
    helm-fail      helm runs with a post-renderer (helmwrap_render.py; not a --set, which would stay
                   in the release's values) setting the Deployment's memory request to -1Gi: the
                   API server rejects the Deployment, helm exits 1 (`UPGRADE FAILED: cannot patch ...`) and records a FAILED
                   revision; the Deployment keeps its old template;
                   Helm 2 has no post-renderer: the wrapper renders the chart itself and gives Tiller
                   the changed manifest as a chart of the same name and version (helmwrap_chart.py);
    helm-hang:S    the call waits S seconds before helm runs (a signal ends the wait);
    unschedulable  the post-renderer sets memory requests and limits larger than the node (`1Ti`): the new
                   pods stay Pending, PodScheduled=False Unschedulable, "Insufficient memory";
    leftover-jobs  nothing here: the charts' hook Jobs have no hook-delete-policy, so real Helm 3 leaves
                   them Complete after the install and replaces them itself at the next hook run
                   (its default policy, before-hook-creation). Real Helm 2 does not: the Job's name
                   stops the upgrade (`jobs.batch ... already exists`), the release stays
                   PENDING_UPGRADE. See docs/sandbox.md.
Unless the caller set them, helm's config/cache/repository paths are inside D (process.py) and
KUBECONFIG is D/kubeconfig.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .helmwrap_calllog import ensure_site, log_call
from .process import real_helm_environment

if TYPE_CHECKING:
    from .faults import Fault

DIR_VAR, HELM_VAR, DIALECT_VAR = "C7N_SANDBOX_DIR", "C7N_REAL_HELM", "C7N_HELM_DIALECT"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
NO_MEMORY_VALUE = "1Ti"        # more than the node's capacity (node/kubelet.py: about 250 GiB)
REJECTED_MEMORY = "-1Gi"       # a request the API server refuses: "must be greater than or equal to 0"
DEPLOYS = ("upgrade", "install")
# helm 3 flags that take a value as the next argument (global and install/upgrade ones)
_VALUED = {"--kube-context", "--kubeconfig", "-n", "--namespace", "--registry-config", "--repository-cache",
           "--repository-config", "--kube-apiserver", "--kube-as-user", "--kube-as-group", "--kube-ca-file",
           "--kube-token", "--kube-tls-server-name", "--burst-limit", "--qps", "--set", "--set-string",
           "--set-file", "--set-json", "--set-literal", "-f", "--values", "--version", "--timeout",
           "--description", "--post-renderer", "--post-renderer-args", "--repo", "--username", "--password",
           "--ca-file", "--cert-file", "--key-file", "--keyring", "-o", "--output", "--name-template",
           "--history-max", "-l", "--labels", "--max-history",
           # helm 2's: Tiller's address and namespace, its home, its TLS files
           "--host", "--tiller-namespace", "--tiller-connection-timeout", "--home", "--tls-ca-cert",
           "--tls-cert", "--tls-key", "--tls-hostname"}


def write_wrapper(sandbox_dir, real_helm, python: str = sys.executable, env: Optional[dict] = None,
                  dialect: int = 3) -> Path:
    """Write D/bin/helm (0755) running `real_helm` through this wrapper; returns its path. `env`: variables
    set for every call whatever the caller's (Helm 2's HELM_HOST and HELM_HOME: the sandbox's Tiller)."""
    directory = Path(sandbox_dir).resolve()
    root = Path(__file__).resolve().parents[1]
    bindir = directory / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    fixed = "".join(f"{k}={shlex.quote(str(v))} " for k, v in {**(env or {}), DIALECT_VAR: dialect}.items())
    script = ("#!/bin/sh\n"
              f"{fixed}{DIR_VAR}={shlex.quote(str(directory))} {HELM_VAR}={shlex.quote(str(Path(real_helm).resolve()))} "
              f"PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}} "
              f"exec {shlex.quote(python)} -S -m c7n_sandbox.helmwrap \"$@\"\n")
    path = bindir / "helm"
    tmp = bindir / ".helm.tmp"
    tmp.write_text(script)
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return path


def parse_deploy(argv: list[str]) -> Optional[tuple[str, str, str, bool]]:
    """(command, release, chart, dry_run) of `helm upgrade|install ...`, or None for any other call.
    Helm 2 names an install's release with `--name` or `-n` (`install CHART --name R`)."""
    positional: list[str] = []
    dry_run = False
    named: Optional[str] = None
    short_n: Optional[str] = None    # helm 3's -n NAMESPACE, helm 2's -n NAME (install)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional += argv[i + 1:]
            break
        if arg.startswith("-"):
            name, eq, value = arg.partition("=")
            if name == "--dry-run":
                dry_run = not eq or value not in ("false", "none")
            elif name == "--name":
                named = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
                i += 0 if eq else 1
            elif name in _VALUED and not eq:
                short_n = argv[i + 1] if name == "-n" and i + 1 < len(argv) else short_n
                i += 1
        else:
            positional.append(arg)
        i += 1
    if not positional or positional[0] not in DEPLOYS:
        return None
    rest = positional[1:]
    if positional[0] == "install" and named is not None:
        rest = [named, *rest]
    elif positional[0] == "install" and ("--generate-name" in argv or "-g" in argv):
        rest = ["", *rest]
    elif positional[0] == "install" and len(rest) == 1 and short_n is not None:
        rest = [short_n, *rest]      # helm 2's `install CHART -n R` (helm 3 refuses one positional)
    if len(rest) < 2:
        return None
    return positional[0], rest[0], rest[1], dry_run


def chart_name(ref: str) -> str:
    """`c7n/config-server`, `./config-server-0.9.0.tgz`, `oci://r/c7n/config-server` -> `config-server`."""
    base = ref.rstrip("/").rsplit("/", 1)[-1]
    if base.endswith(".tgz"):
        base = base[:-4]
        head, dash, tail = base.rpartition("-")
        while dash and tail and not tail[:1].isdigit():   # a pre-release suffix: name-1.2.3-rc1
            head, dash, tail = head.rpartition("-")
        base = head if dash and tail[:1].isdigit() else base
    return base


def plan_release(directory: Path, chart: str) -> Optional[str]:
    """The plan's release name for `chart` (D/sandbox.json names the plan), if any."""
    try:
        config = json.loads((directory / "sandbox.json").read_text())
        ensure_site()
        import yaml
        plan = yaml.safe_load(Path(config["plan"]).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for step in plan.get("steps") or []:
        if isinstance(step, dict) and step.get("chart") == chart:
            return step.get("release")
    return None


def fault_of(directory: Path, argv: list[str]) -> Optional["Fault"]:
    """The fault that acts on this call: a non-dry-run upgrade/install of a faulted release."""
    call = parse_deploy(argv)
    if call is None or call[3]:
        return None
    from .faults import fault_for, load_faults  # only for these calls: start-up time matters
    faults = load_faults(directory)
    if not faults:
        return None
    chart = chart_name(call[2])
    return fault_for(faults, call[1], chart) or fault_for(faults, plan_release(directory, chart))


def fault_settings(fault: Optional["Fault"]) -> list[str]:
    """What the fault changes in the rendered manifest's Deployments (helmwrap_render.py), if anything."""
    if fault is None:
        return []
    if fault.kind == "helm-fail":
        return [f"requests.memory={REJECTED_MEMORY}"]
    if fault.kind == "unschedulable":
        return [f"requests.memory={NO_MEMORY_VALUE}", f"limits.memory={NO_MEMORY_VALUE}"]
    return []


def fault_args(fault: Optional["Fault"]) -> list[str]:
    """The flags the fault adds to a Helm 3 argv (a post-renderer)."""
    settings = fault_settings(fault)
    return _post_render(*settings) if settings else []


def _post_render(*settings: str) -> list[str]:
    """Flags running helmwrap_render.py as helm's post-renderer: the resources change the manifest only,
    not the release's values."""
    args = ["-m", "c7n_sandbox.helmwrap_render", *settings]
    return ["--post-renderer", sys.executable, *(a for arg in args for a in ("--post-renderer-args", arg))]


def _term_with_parent():
    """helm gets SIGTERM if the wrapper dies unwaited (SIGKILL): it cancels, as on a forwarded one."""
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl   # resolved before the fork
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


class _Signalled(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def run_helm(real_helm: str, argv: list[str], env: dict, delay: float) -> tuple[int, Optional[int]]:
    """Run helm after `delay` s; (exit status as a shell reports it, the signal that killed it or None)."""
    state: dict = {"child": None, "phase": "wait", "pending": None}

    def forward(signum, _frame):
        if state["child"] is not None:
            state["child"].send_signal(signum)
        elif state["phase"] == "wait":
            raise _Signalled(signum)
        else:
            state["pending"] = signum   # between the wait and Popen's return: sent once it has a pid

    # a signal the caller ignores stays ignored, by helm too (as across an exec)
    previous = {s: signal.signal(s, forward) for s in FORWARDED if signal.getsignal(s) != signal.SIG_IGN}
    try:
        try:
            if delay > 0:
                time.sleep(delay)
            state["phase"] = "start"
        except _Signalled as stop:
            return 128 + stop.signum, stop.signum
        try:
            child = subprocess.Popen([real_helm, *argv], env=env, preexec_fn=_term_with_parent())
        except OSError as exc:
            sys.stderr.write(f"Error: cannot run {real_helm}: {exc.strerror}\n")
            return 127, None
        state["child"] = child
        if state["pending"] is not None:
            child.send_signal(state["pending"])
        code = child.wait()
        return (128 - code, -code) if code < 0 else (code, None)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _helm2_rendered(directory: Path, real_helm: str, argv: list[str], fault: "Fault", env: dict,
                    made: list) -> list[str]:
    """The argv to run: Helm 2 has no post-renderer, so the chart is rendered here (helmwrap_chart.py)
    in a scratch directory appended to `made` at once (the caller removes it); [] after saying why when
    that fails."""
    ensure_site()
    from . import helmwrap_chart
    scratch = helmwrap_chart.workdir(directory)
    made.append(scratch)
    try:
        return helmwrap_chart.rendered_chart_argv(real_helm, argv, parse_deploy(argv), fault_settings(fault),
                                                  env, directory, _VALUED, scratch)
    except (helmwrap_chart.RenderError, OSError, StopIteration) as exc:
        sys.stderr.write(f"Error: sandbox fault {fault.kind}: cannot render the chart for Helm 2: {exc}\n")
        return []


def _interruptible(work):
    """`work()` with the forwarded signals raising _Signalled (their default would skip the call's log
    line and the scratch directory's removal)."""
    def stop(signum, _frame):
        raise _Signalled(signum)

    previous = {s: signal.signal(s, stop) for s in FORWARDED if signal.getsignal(s) != signal.SIG_IGN}
    try:
        return work()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str]) -> int:
    directory = Path(os.environ[DIR_VAR])
    real_helm = os.environ[HELM_VAR]
    helm2 = os.environ.get(DIALECT_VAR) == "2"
    env = {k: v for k, v in os.environ.items() if k not in (DIR_VAR, HELM_VAR, DIALECT_VAR)}
    for key, value in {**real_helm_environment(directory), "KUBECONFIG": str(directory / "kubeconfig")}.items():
        env.setdefault(key, value)
    try:
        fault = fault_of(directory, argv)
    except ValueError as exc:  # faults.FaultError
        sys.stderr.write(f"Error: sandbox faults: {exc}\n")
        log_call(directory, argv, 1)
        return 1
    delay = fault.deploy_delay() if fault is not None else 0.0
    made: list[Path] = []
    code, killed_by = 1, None
    try:
        if helm2 and fault_settings(fault):
            try:
                helm_argv = _interruptible(lambda: _helm2_rendered(directory, real_helm, argv, fault, env, made))
            except _Signalled as stop:  # subprocess.run has killed the render's helm child
                helm_argv, code, killed_by = [], 128 + stop.signum, stop.signum
        else:
            helm_argv = [*argv, *fault_args(fault)]
        if helm_argv:
            code, killed_by = run_helm(real_helm, helm_argv, env, delay)
    finally:
        for scratch in made:
            shutil.rmtree(scratch, ignore_errors=True)
    log_call(directory, argv, code)
    if killed_by is not None:
        signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
