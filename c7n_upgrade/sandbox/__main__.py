"""`python -m c7n_upgrade.sandbox up|fault|xwiki-manual` (the sandbox-alone contract).

  up --dir D [--cluster emulator|real] [--helm 2|3] [--helm-binary PATH] [--fault RELEASE=KIND[:ARG]]... [--release-name DEFAULT=ACTUAL]...
     [--kube-minor N] [--no-xwiki-operator] [--plan NAME|PATH] [--preinstall-target GLOB]...
      start a simulated Choerodon 0.8 cluster; D/env.yaml appears once every 0.8 service is up;
      runs until SIGINT/SIGTERM, then stops everything it started.
      --cluster: real (the real control plane, the node and the real Helm 3, or with --helm 2 the real
      Helm 2 and a Tiller) or emulator; default real, in the dialect asked for (--helm, else 3 with
      --helm-binary, else 2); --cluster real named alone runs Helm 3;
      --helm-binary names the real helm to wrap (default: scripts/install-test-tool.sh helm).
      --helm-binary: env.yaml names this real Helm 3 as helm.binary (releases stored for helm 3).
      --plan: a plan name in plans/ or a plan YAML path; env.yaml names the same plan (a path as
      an absolute path). --preinstall-target (bench only, see bench/README.md): install the
      releases matching GLOB straight at their target version instead of 0.8.
  fault --dir D RELEASE=KIND[:ARG]      set a fault on a running sandbox
  fault --dir D --clear RELEASE         clear it (a cleared never-up service comes up)
  xwiki-manual --dir D                  apply the operator's XWiki manual steps now
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import yaml

from . import faults as faults_mod


def _parse_rename(spec: str) -> tuple[str, str]:
    default, sep, actual = spec.partition("=")
    if not sep or not default.strip() or not actual.strip():
        raise argparse.ArgumentTypeError(f"--release-name {spec!r}: expected DEFAULT=ACTUAL")
    return default.strip(), actual.strip()


def _parse_fault(spec: str) -> str:
    try:
        faults_mod.parse_fault(spec)
    except faults_mod.FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return spec


def _kinds_help() -> str:
    """The fault kinds, as `faults.py` registers them: never-up, slow-start:SECONDS, flap[:SECONDS], ..."""
    kinds = [k + ("" if not c.takes_seconds else "[:SECONDS]" if c.seconds_optional else ":SECONDS")
             for k, c in faults_mod.KINDS.items()]
    return "KIND is one of: " + ", ".join(kinds) + " (docs/sandbox.md, \"Faults\")"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m c7n_upgrade.sandbox",
                                     description="A simulated Choerodon 0.8 cluster on loopback.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox and run until SIGINT/SIGTERM")
    up.add_argument("--dir", required=True, type=Path, help="the sandbox directory D")
    up.add_argument("--cluster", choices=("emulator", "real"), default=None,
                    help="what plays Kubernetes: the real control plane (Helm 3, or 2 with --helm 2) or the emulator "
                         "(default: real for Helm 3, emulator for Helm 2)")
    up.add_argument("--helm", type=int, choices=(2, 3), default=None,
                    help="helm dialect (default 2; 3 with --helm-binary)")
    up.add_argument("--helm-binary", metavar="PATH",
                    help="a real Helm 3 that env.yaml names as helm.binary instead of the sandbox's helm")
    up.add_argument("--fault", action="append", default=[], type=_parse_fault, metavar="RELEASE=KIND[:ARG]",
                    help=_kinds_help())
    up.add_argument("--release-name", action="append", default=[], type=_parse_rename, metavar="DEFAULT=ACTUAL")
    up.add_argument("--kube-minor", type=int, default=15, help="Kubernetes minor version to report (default 15)")
    up.add_argument("--plan", default="0.8-to-0.9", metavar="NAME|PATH",
                    help="the plan: a name in plans/ or a plan YAML file (default 0.8-to-0.9)")
    up.add_argument("--preinstall-target", action="append", default=[], metavar="GLOB",
                    help="bench only: install releases matching GLOB at their target version (repeatable)")
    up.add_argument("--no-xwiki-operator", action="store_true",
                    help="do not simulate the operator's XWiki manual steps")
    fault = sub.add_parser("fault", help="set or clear a fault of a running sandbox")
    fault.add_argument("--dir", required=True, type=Path)
    fault.add_argument("--clear", metavar="RELEASE", help="clear the fault of RELEASE")
    fault.add_argument("spec", nargs="?", metavar="RELEASE=KIND[:ARG]", help=_kinds_help())
    xw = sub.add_parser("xwiki-manual", help="apply the operator's XWiki manual steps now")
    xw.add_argument("--dir", required=True, type=Path)
    return parser


class _Interrupted(BaseException):
    """SIGINT/SIGTERM while the sandbox was starting."""


def cmd_up(args) -> int:
    from .launcher import SandboxError, SimulatedCluster
    from .mariadb.install import ensure_mariadb
    from .process import default_cluster

    try:  # as a pytest run does: installed (apt-get, as root) when missing, or what to install is said
        ensure_mariadb(lambda line: print(line, flush=True))
    except RuntimeError as exc:
        print(f"sandbox: error: {exc}", file=sys.stderr, flush=True)
        return 1

    # Start in the main thread: MariaDB is tied to the thread that started it (PR_SET_PDEATHSIG
    # fires when that thread ends), so it must be one that lives as long as the sandbox.
    state = {"starting": True}
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        if state["starting"]:
            raise _Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        common = dict(helm_binary=args.helm_binary, faults=args.fault, release_names=dict(args.release_name),
                      plan=args.plan, xwiki_operator=not args.no_xwiki_operator,
                      progress=lambda line: print(line, flush=True), preinstall_target=args.preinstall_target)
        dialect = args.helm or (3 if args.helm_binary else 2)
        if (args.cluster or default_cluster(dialect)) == "real":
            from .realcluster import RealCluster
            # the dialect asked for; `--cluster real` named alone keeps its Helm 3
            sandbox = RealCluster(args.dir, helm_dialect=args.helm or (3 if args.cluster else dialect), **common)
        else:
            sandbox = SimulatedCluster(args.dir, helm_dialect=dialect, kube_minor=args.kube_minor, **common)
    except SandboxError as exc:
        state["starting"] = False
        print(f"sandbox: error: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        sandbox.start()  # stops what it started when it fails
    except _Interrupted as exc:
        state["starting"] = False
        print(f"sandbox: {exc} while starting; stopped", flush=True)
        sandbox.stop()
        return 0
    except (SandboxError, faults_mod.FaultError) as exc:
        state["starting"] = False
        print(f"sandbox: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:
        state["starting"] = False
        if stop.is_set():  # the signal surfaced inside a library that wrapped it (e.g. the API client)
            print("sandbox: interrupted while starting; stopped", flush=True)
            return 0
        print(f"sandbox: error: {type(exc).__name__}: {exc} (see {args.dir / 'logs' / 'sandbox.log'})",
              file=sys.stderr, flush=True)
        return 1
    state["starting"] = False
    if not stop.is_set():
        print("sandbox: running; Ctrl-C (SIGINT) or SIGTERM stops it", flush=True)
    while not stop.wait(0.5):
        pass
    print("sandbox: stopping", flush=True)
    sandbox.stop()
    print("sandbox: stopped", flush=True)
    return 0


def cmd_fault(args) -> int:
    directory = args.dir
    if not (directory / "sandbox.json").exists():
        print(f"error: {directory} holds no sandbox (no sandbox.json)", file=sys.stderr)
        return 2
    try:
        if args.clear:
            if args.spec:
                print("error: give either RELEASE=KIND[:ARG] or --clear RELEASE, not both", file=sys.stderr)
                return 2
            found = faults_mod.clear_fault(directory, args.clear)
            print(f"cleared the fault of {args.clear}" if found else f"{args.clear} had no fault")
            return 0
        if not args.spec:
            print("error: expected RELEASE=KIND[:ARG] or --clear RELEASE", file=sys.stderr)
            return 2
        release, fault = faults_mod.parse_fault(args.spec)
        faults_mod.set_fault(directory, release, fault.kind, fault.arg)
        print(f"{release}: {fault.kind}{':' + fault.arg if fault.arg else ''}")
        return 0
    except faults_mod.FaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_xwiki_manual(args) -> int:
    from . import xwiki

    env_file = args.dir / "env.yaml"
    if not env_file.exists():
        print(f"error: {env_file} not found: is the sandbox up (and ready)?", file=sys.stderr)
        return 2
    env = yaml.safe_load(env_file.read_text(encoding="utf-8"))
    for line in xwiki.apply_manual_steps(Path(env["xwiki"]["data_dir"]), env["gateway_url"]):
        print(line)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return {"up": cmd_up, "fault": cmd_fault, "xwiki-manual": cmd_xwiki_manual}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
