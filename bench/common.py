"""Shared pieces of the benchmarks: a sandbox in a child process, timed children with their peak
RSS, the synthetic plan, the sandbox log and Allure results as clocks, and statistics.

Everything a benchmark starts listens on loopback only, is bounded in time and is stopped in a
`finally` (the sandbox with SIGTERM, a timed-out child with SIGKILL to its process group).
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from c7n_sandbox.node.pod import pods_log
from c7n_sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
BASE_PLAN = ROOT / "plans" / "0.8-to-0.9.yaml"
SYNTH_PREFIX = "synth-"
INSTALLER = ROOT / "scripts" / "install-test-tool.sh"


@functools.lru_cache(maxsize=None)
def real_helm() -> str:
    """The real Helm 3 users run (3.17.3), installed on demand into .tools/ by the installer the
    project's tests use (scripts/install-test-tool.sh helm)."""
    got = subprocess.run(["bash", str(INSTALLER), "helm"], capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    if got.returncode != 0 or not got.stdout.strip():
        raise RuntimeError(f"scripts/install-test-tool.sh helm failed ({got.returncode}):\n{got.stderr[-2000:]}")
    return got.stdout.strip().splitlines()[-1]


def child_env(extra: Optional[dict] = None) -> dict:
    env = dict(os.environ)
    env.pop("CI", None)            # the benches mean to upgrade the sandbox they start
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------- children
@dataclass
class ChildRun:
    argv: list
    exit_code: int
    wall_s: float
    peak_rss_mb: float          # ru_maxrss of the child (and the descendants it waited for)
    output_path: Optional[Path] = None

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path else ""


def run_child(argv: list, *, timeout: float, output: Optional[Path] = None, env: Optional[dict] = None,
              cwd: Path = ROOT, stamp: bool = False) -> ChildRun:
    """Run `argv` to completion; wall time and peak RSS come from os.wait4 on that very child.

    With `stamp`, the child's output is read as it comes and every line is kept with the wall-clock
    time it arrived (`run.lines`: [(epoch, text)]); the child runs unbuffered for that.
    """
    out = open(output, "wb") if output else subprocess.DEVNULL
    lines: list = []
    reader = None
    try:
        t0 = time.perf_counter()
        if stamp:
            env = dict(env or child_env(), PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(argv, cwd=cwd, env=env or child_env(),
                                stdout=subprocess.PIPE if stamp else out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        if stamp:
            def read() -> None:
                for raw in iter(proc.stdout.readline, b""):
                    now = time.time()
                    lines.append((now, raw.decode("utf-8", "replace").rstrip("\n")))
                    if output:
                        out.write(raw)
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
        timer = threading.Timer(timeout, lambda: _killpg(proc.pid))
        timer.daemon = True
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if reader is not None:
            reader.join(10)
            proc.stdout.close()
    finally:
        if output:
            out.close()
    run = ChildRun(list(argv), proc.returncode, wall, usage.ru_maxrss / 1024.0, output)
    run.lines = lines  # type: ignore[attr-defined]
    run.started = time.time() - wall  # type: ignore[attr-defined]
    return run


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


class BenchSandbox(SandboxProcess):
    """A sandbox driven by the real Helm 3 (`up --helm 3 --helm-binary`), plus what the benchmarks read:
    its log, its env as a user writes it (`suite_env`) and copies of it, on the real control plane."""

    def __init__(self, directory: Path, *args: str):
        super().__init__(directory, "--helm", "3", "--helm-binary", real_helm(), *args)

    def start(self, timeout: float = 180.0) -> Path:
        """Start it, then the guide's `helm repo add` with the real helm (a run of only some step modules
        has no pre-flight to do it)."""
        env_file = super().start(timeout)
        helm = yaml.safe_load(env_file.read_text())["helm"]
        subprocess.run([real_helm(), "repo", "add", helm["repo_name"], helm["repo_url"]], check=True,
                       capture_output=True, timeout=60, env=child_env(self.real_helm_env()), stdin=subprocess.DEVNULL)
        return env_file

    @property
    def log_file(self) -> Path:
        return self.dir / "logs" / "sandbox.log"

    @property
    def suite_env(self) -> Path:
        """env.yaml with `helm.dialect: 3` stated, as an operator who knows their helm writes it."""
        path = self.dir / "env-bench.yaml"
        return path if path.exists() else self.env_copy("env-bench")

    @property
    def settle_s(self) -> float:
        """The env's settle window: the proof and every step's wait look over it on purpose."""
        return float(yaml.safe_load(self.env_file.read_text())["timeouts"]["settle"])

    def env_copy(self, name: str, **overrides) -> Path:
        """env.yaml with `helm.dialect: 3` and top-level keys replaced (e.g. plan, timeouts), written beside it."""
        data = yaml.safe_load(self.env_file.read_text())
        data["helm"] = {**data["helm"], "dialect": 3}
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path


def pytest_argv(*args: str, alluredir: Path) -> list:
    return [sys.executable, "-m", "pytest", *args, f"--alluredir={alluredir}", "--clean-alluredir",
            "-p", "no:cacheprovider", "-q"]


def run_pytest(work: Path, label: str, *args: str, sandbox: SandboxProcess, timeout: float = 900.0,
               stamp: bool = False, verbose: bool = False) -> ChildRun:
    """pytest in a child, its helm the sandbox's real one (with its config inside the sandbox dir)."""
    base = work / label
    base.mkdir(parents=True, exist_ok=True)
    argv = pytest_argv(*args, alluredir=base / "allure-results")
    if verbose:  # a line per test as it ends: `path::test FAILED`
        argv[argv.index("-q")] = "-v"
    # the run's own directory goes under the benchmark's work dir, never the repo's reports/runs/
    run = run_child(argv, timeout=timeout, output=base / "output.txt", stamp=stamp,
                    env=child_env({"C7N_RUNS_DIR": str(base / "runs"), **sandbox.real_helm_env()}))
    run.alluredir = base / "allure-results"  # type: ignore[attr-defined]
    return run


def run_guide(script: Path, kubeconfig: Path, work: Path, label: str, timeout: float = 900.0) -> ChildRun:
    base = work / label
    base.mkdir(parents=True, exist_ok=True)
    return run_child(["bash", str(script)], timeout=timeout, output=base / "output.txt",
                     env=child_env({"KUBECONFIG": str(kubeconfig)}))


def check_passed(run: ChildRun, what: str) -> None:
    if run.exit_code != 0:
        tail = "\n".join(run.output().splitlines()[-25:])
        raise RuntimeError(f"{what} exited {run.exit_code} (see {run.output_path}):\n{tail}")


# ---------------------------------------------------------------------------------- plans
def synthetic_plan(n: int, directory: Path) -> Path:
    """plans/0.8-to-0.9.yaml plus n-16 synthetic Spring Boot releases `synth-017`...; written to directory."""
    data = yaml.safe_load(BASE_PLAN.read_text(encoding="utf-8"))
    base = len(data["steps"])
    if n < base:
        raise ValueError(f"N must be at least {base} (the real plan's releases), got {n}")
    data["name"] = f"0.8-to-0.9-synthetic-{n}"
    for number in range(base + 1, n + 1):
        name = f"{SYNTH_PREFIX}{number:03d}"
        data["steps"].append({
            "number": number, "release": name, "chart": name, "action": "upgrade", "from_version": "0.8.0",
            "version": "0.9.0", "service_port": 7100, "health_port": 7101, "check": "health",
            "section": f"synthetic release {number} (bench)"})
    path = Path(directory) / f"plan-{n}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- clocks
# the node's pod lines, by the logger that writes them (a literal name here outlived a rename once)
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ " + re.escape(pods_log.name) + r": pod "
                       r"(?P<ns>[^/\s]+)/(?P<pod>\S+) (?P<what>created|Ready|deleted)(?P<rest>.*)$")
_CREATED = re.compile(r"version label (?P<version>\S+?), start in (?P<delay>[\d.]+)s")


@dataclass
class PodEvents:
    pod: str
    release: str = ""
    version: str = ""
    delay: float = 0.0
    created: Optional[float] = None
    ready: Optional[float] = None
    deleted: Optional[float] = None


def _epoch(stamp: str, ms: str) -> float:
    return _dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").timestamp() + int(ms) / 1000.0


def pod_events(log_file: Path, releases: list[str]) -> dict[str, PodEvents]:
    """Per pod: created (with version label and start delay), first Ready, deleted (wall-clock epoch)."""
    by_len = sorted(releases, key=len, reverse=True)
    pods: dict[str, PodEvents] = {}
    for line in log_file.read_text(errors="replace").splitlines():
        m = _LOG_LINE.match(line)
        if not m:
            continue
        t = _epoch(m.group(1), m.group(2))
        name = m.group("pod")
        ev = pods.get(name)
        if ev is None:
            release = next((r for r in by_len if name.startswith(r + "-")), "")
            ev = pods[name] = PodEvents(name, release)
        what = m.group("what")
        if what == "created":
            ev.created = t
            c = _CREATED.search(m.group("rest"))
            if c:
                ev.version, ev.delay = c.group("version"), float(c.group("delay"))
        elif what == "Ready" and ev.ready is None:
            ev.ready = t
        elif what == "deleted" and ev.deleted is None:
            ev.deleted = t
    return pods


def allure_steps(alluredir: Path, prefix: str) -> dict[str, tuple[float, float]]:
    """Top-level Allure steps whose name starts with prefix: name -> (start, stop), epoch seconds."""
    out = {}
    for path in Path(alluredir).glob("*-result.json"):
        data = json.loads(path.read_text())
        for step in data.get("steps", []):
            if step.get("name", "").startswith(prefix) and step.get("stop"):
                out[step["name"]] = (step["start"] / 1000.0, step["stop"] / 1000.0)
    return out


# ---------------------------------------------------------------------------------- statistics
def median(values) -> float:
    values = sorted(values)
    if not values:
        raise ValueError("no values")
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def percentile(values, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    values = sorted(values)
    if not values:
        raise ValueError("no values")
    pos = (len(values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def r3(x: float) -> float:
    return round(float(x), 3)


def machine() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "mem_total_mb": round(mem_kb / 1024), "python": platform.python_version(),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def emit(figures: dict) -> None:
    """The contract: one JSON object on the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(figures, sort_keys=False), flush=True)


def run_main(doc: str, argv, measure, options=None) -> int:
    """A benchmark's command line: --quick, --keep and `options(parser)`'s own; `measure(work, args)`
    returns the figures, printed with the machine as the last line; the work dir goes unless --keep."""
    import argparse
    import shutil
    import tempfile

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    if options:
        options(ap)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="c7n-bench-"))
    try:
        emit({"machine": machine(), "quick": args.quick, **measure(work, args),
              **({"work_dir": str(work)} if args.keep else {})})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def say(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr, flush=True)
