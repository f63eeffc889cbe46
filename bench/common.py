"""Shared pieces of the benchmarks: a sandbox in a child process, timed children with their peak
RSS, the synthetic plan, the sandbox log and Allure results as clocks, and statistics.

Everything a benchmark starts listens on loopback only, is bounded in time and is stopped in a
`finally` (the sandbox with SIGTERM, a timed-out child with SIGKILL to its process group).
"""
from __future__ import annotations

import datetime as _dt
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

from c7n_upgrade.sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
BASE_PLAN = ROOT / "plans" / "0.8-to-0.9.yaml"
SYNTH_PREFIX = "synth-"


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
    """The shared sandbox process, plus what the benchmarks read: its log and env copies."""

    @property
    def log_file(self) -> Path:
        return self.dir / "logs" / "sandbox.log"

    def env_copy(self, name: str, **overrides) -> Path:
        """env.yaml with top-level keys replaced (e.g. plan, timeouts), written beside it."""
        data = yaml.safe_load(self.env_file.read_text())
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


def run_pytest(work: Path, label: str, *args: str, timeout: float = 900.0, stamp: bool = False) -> ChildRun:
    base = work / label
    base.mkdir(parents=True, exist_ok=True)
    # the run's own directory goes under the benchmark's work dir, never the repo's reports/runs/
    run = run_child(pytest_argv(*args, alluredir=base / "allure-results"), timeout=timeout,
                    output=base / "output.txt", stamp=stamp, env=child_env({"C7N_RUNS_DIR": str(base / "runs")}))
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
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ c7n_upgrade\.sandbox\.runtime: pod "
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


def say(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr, flush=True)
