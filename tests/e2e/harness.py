"""Drive the suite the way an operator does: a sandbox started with `up`, pytest in a subprocess."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from c7n_sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parents[2]


def _env(extra: dict | None = None, *, ci: bool = False) -> dict:
    env = dict(os.environ)
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra or {})
    return env


class ObservedSandbox(SandboxProcess):
    """A sandbox started with `up`, plus what the tests look at: helm calls, secrets, env, MySQL."""

    def fault(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "c7n_sandbox", "fault", "--dir", str(self.dir), *args],
                       cwd=ROOT, env=_env(), check=True, capture_output=True, timeout=30)

    def helm_calls(self) -> list[dict]:
        path = self.dir / "helm-calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def secrets(self) -> dict[str, str]:
        from c7n_upgrade.config import read_secrets_file

        return read_secrets_file(self.dir / "secrets.env")

    def env_data(self) -> dict:
        return yaml.safe_load(self.env_file.read_text())

    def env_with(self, name: str, /, **overrides) -> Path:
        """A copy of env.yaml beside it with top-level keys overridden; a mapping is merged into the
        env's (`timeouts={"step": 12}` keeps the sandbox's other timeouts, its short settle window too)."""
        data = self.env_data()
        for key, value in overrides.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def mysql(self, database=None):
        import pymysql

        m = self.env_data()["mysql"]
        return pymysql.connect(host=m["host"], port=int(m["port"]), user="root",
                               password=self.secrets()["C7N_MYSQL_ROOT_PASSWORD"].encode(), database=database,
                               connect_timeout=5)

    def add_user(self, user: str, *grants: str) -> str:
        """A MySQL account of the test's own given each `GRANT <grant>` ({who} names it); returns its password."""
        import secrets

        password = secrets.token_urlsafe(12)
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
            for grant in grants:
                cur.execute("GRANT " + grant.format(who=f"'{user}'@'%'"))
        return password

    def connections_of(self, user: str) -> int:
        """Logins the server counted for `user` since userstat was on (MariaDB's USER_STATISTICS); the
        first call turns it on."""
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL userstat = 1")
            cur.execute("SELECT TOTAL_CONNECTIONS FROM information_schema.USER_STATISTICS WHERE USER = %s", (user,))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def databases(self) -> set[str]:
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return {row[0] for row in cur.fetchall()}

    def pin_image(self, release: str, chart_version: str, tag: str) -> None:
        """Re-deploy `release` at `chart_version` with its values plus `image.tag: TAG`, as an operator
        who once pinned the image would have (hooks skipped: an earlier hook Job may still be there)."""
        self.redeploy_with(release, chart_version, lambda values: values.update(image={"tag": tag}))

    def set_image(self, release: str, chart_version: str, **image: str) -> None:
        """Re-deploy `release` at `chart_version` with its values' `image:` replaced by `image` (e.g. a
        repository in the operator's own registry)."""
        self.redeploy_with(release, chart_version, lambda values: values.update(image=dict(image)))

    def redeploy_with(self, release: str, chart_version: str, change) -> None:
        """Re-deploy `release` at `chart_version` with its values as `change(values)` leaves them."""
        helm = str(self.dir / "bin" / "helm")
        values = json.loads(subprocess.run([helm, "get", "values", release, "--output", "json"],
                                           capture_output=True, text=True, check=True).stdout)
        change(values)
        pinned = self.dir / f"values-{release}.yaml"
        pinned.write_text(yaml.safe_dump(values))
        subprocess.run([helm, "upgrade", release, f"c7n/{release}", "--version", chart_version, "-f", str(pinned),
                        "--no-hooks"], capture_output=True, check=True, timeout=60)

    def api(self, path: str, method: str = "GET", body=None) -> tuple[int, object]:
        """One call to the sandbox's API server as its kubeconfig's first user (the real control plane's
        wants its token, over TLS checked against its CA): (status, its JSON body)."""
        import base64
        import ssl

        config = yaml.safe_load((self.dir / "kubeconfig").read_text())
        cluster, user = config["clusters"][0]["cluster"], (config.get("users") or [{}])[0].get("user") or {}
        headers = {"Content-Type": "application/json"}
        if user.get("token"):
            headers["Authorization"] = f"Bearer {user['token']}"
        context = None
        if cluster.get("certificate-authority-data"):
            context = ssl.create_default_context(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(cluster["server"] + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10, context=context) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def writes(self) -> list[list[str]]:
        """helm calls that change something: upgrade and install."""
        return [c["argv"] for c in self.helm_calls() if c["argv"][:1] in (["upgrade"], ["install"])]


def audit_events(sandbox_dir: Path) -> list[dict]:
    """The real API server's audit events so far in sandbox D (D/controlplane/logs/audit.log; writes only,
    controlplane/cluster.py's policy): readable after the sandbox stopped."""
    path = Path(sandbox_dir) / "controlplane" / "logs" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def audited_writes(sandbox_dir: Path) -> list[tuple[str, str, str]]:
    """(verb, namespace, name) of each ConfigMap write the API server audited in sandbox D."""
    return [(e["verb"], e["objectRef"].get("namespace", ""), e["objectRef"].get("name", ""))
            for e in audit_events(sandbox_dir) if e["objectRef"].get("resource") == "configmaps"]


@contextlib.contextmanager
def module_sandbox(tmp_path_factory, name: str, *args: str):
    """(For a module fixture) a sandbox of its own in a fresh base dir: yields (sandbox, base)."""
    base = tmp_path_factory.mktemp(name)
    with ObservedSandbox(base / "sandbox", *args) as sb:
        yield sb, base


#: a run's private backups (0700 directories of 0600 files): whole on purpose, never output
PRIVATE = {"db-backup", "values"}


@dataclass
class Run:
    exit_code: int
    output: str
    alluredir: Path
    junit: Path
    run_dir: Path | None = None  # the run's own directory (under the runs dir the harness gives it)

    def outcome(self) -> dict:
        """The run's outcome.json."""
        return json.loads((self.run_dir / "outcome.json").read_text())

    def flat_output(self) -> str:
        """The output with every run of whitespace made one space (the summary wraps its lines)."""
        return " ".join(self.output.split())

    def outcomes(self) -> dict[str, str]:
        """nodeid -> passed/failed/skipped, with skip reasons, from the JUnit XML."""
        import xml.etree.ElementTree as ET

        result = {}
        for case in ET.parse(self.junit).getroot().iter("testcase"):
            cls = case.get("classname", "").replace(".", "/")
            nodeid = f"{cls}.py::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                result[nodeid] = "failed"
            elif (skipped := case.find("skipped")) is not None:
                result[nodeid] = "skipped: " + (skipped.get("message") or "")
            else:
                result[nodeid] = "passed"
        return result

    def by_test(self, fragment: str) -> dict[str, str]:
        return {k: v for k, v in self.outcomes().items() if fragment in k}

    def allure_results(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in self.alluredir.glob("*-result.json")]

    def all_text(self) -> str:
        """Everything the run showed and wrote: its output, its report, its run directory (but its private
        backups: the database dumps and the release values, whole on purpose, secrets included)."""
        parts = [self.output]
        for directory in (self.alluredir, self.run_dir):
            for path in (directory.rglob("*") if directory and directory.is_dir() else []):
                if path.is_file() and not PRIVATE & set(path.relative_to(directory).parts):
                    parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def _interruptible(argv, cwd, env, timeout, interrupt_on, signum) -> tuple[int, str]:
    """Run `argv`; send `signum` once a line containing `interrupt_on` appears (as an operator's Ctrl-C)."""
    proc = subprocess.Popen(argv, cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    timer = threading.Timer(timeout, proc.kill)  # nothing waits unbounded
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if interrupt_on in line and proc.poll() is None:
                proc.send_signal(signum)
                interrupt_on = "\0never\0"
        return proc.wait(), "".join(lines)
    finally:
        timer.cancel()
        if proc.poll() is None:  # the reading failed: the run must not outlive the test
            proc.kill()
            proc.wait()


def run_suite(tmp: Path, *args: str, env_extra: dict | None = None, ci: bool = False,
              timeout: float = 600, cwd: Path = ROOT, runs: Path | None = None,
              interrupt_on: str | None = None, signum: int = signal.SIGINT) -> Run:
    """`pytest suites/... ARGS` in a subprocess, with a JUnit file; the run keeps its results in its own
    directory under `runs` (default: a runs/ dir of this call's own, never the repo's reports/).
    With `interrupt_on`, the run gets `signum` when a line holding that text appears."""
    launch = _Launch(tmp, args, env_extra, ci, runs)
    if interrupt_on:
        exit_code, output = _interruptible(launch.argv, cwd, launch.env, timeout, interrupt_on, signum)
    else:
        proc = subprocess.run(launch.argv, cwd=cwd, env=launch.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        exit_code, output = proc.returncode, proc.stdout + proc.stderr
    return launch.run(exit_code, output)


def start_suite(tmp: Path, *args: str, env_extra: dict | None = None, ci: bool = False,
                runs: Path | None = None) -> "RunningSuite":
    """`pytest suites/... ARGS` started in a subprocess: signal or kill `.proc`, then `.finish()` it."""
    launch = _Launch(tmp, args, env_extra, ci, runs)
    proc = subprocess.Popen(launch.argv, cwd=ROOT, env=launch.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    return RunningSuite(proc, launch)


class _Launch:
    """One suite run's argv, environment and directories; `run()` reads what it left."""

    def __init__(self, tmp: Path, args, env_extra, ci, runs):
        tmp.mkdir(parents=True, exist_ok=True)
        self.base = tmp / f"run-{len(list(tmp.glob('run-*')))}"
        self.base.mkdir()
        self.runs = runs or self.base / "runs"
        self.args = args
        self.junit = self.base / "junit.xml"
        self.argv = [sys.executable, "-m", "pytest", *args, f"--junitxml={self.junit}",
                     "-p", "no:cacheprovider", "-o", "junit_family=xunit2", "-rA"]
        self.before = set(self.runs.iterdir()) if self.runs.is_dir() else set()
        self.env = _env({"C7N_RUNS_DIR": str(self.runs), **(env_extra or {})}, ci=ci)

    def run(self, exit_code: int, output: str) -> Run:
        (self.base / "output.txt").write_text(output)
        new = sorted(set(self.runs.iterdir()) - self.before) if self.runs.is_dir() else []
        run_dir = new[-1] if new else None
        explicit = next((a.split("=", 1)[1] for a in self.args if a.startswith("--alluredir=")), None)
        alluredir = Path(explicit) if explicit else (run_dir / "allure-results" if run_dir
                                                     else self.base / "allure-results")
        return Run(exit_code, output, alluredir, self.junit, run_dir)


@dataclass
class RunningSuite:
    """A suite run in progress (`start_suite`): its process, and the Run once it has finished."""

    proc: subprocess.Popen
    launch: _Launch

    def finish(self, timeout: float = 600) -> Run:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            (self.launch.base / "output.txt").write_text(out + err)
            raise
        return self.launch.run(self.proc.returncode, out + err)

    def kill(self) -> None:
        """SIGKILL the run if it is still going, and reap it (a test's cleanup when it fails early)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def released(argv: list[str]) -> str:
    """The release a helm write (upgrade, install) changes: Helm 2 names an install's with --name."""
    return argv[argv.index("--name") + 1] if argv[0] == "install" and "--name" in argv else argv[1]


def assert_upgraded(run: "Run", steps: int) -> None:
    """A whole run passed: exit 0, every upgrade and post-upgrade test passed, the outcome says all
    `steps` steps were done and observed."""
    assert run.exit_code == 0, run.output[-3000:]
    for phase in ("suites/upgrade", "suites/post_upgrade"):
        ran = run.by_test(phase)
        assert ran and all(v == "passed" for v in ran.values()), {k: v for k, v in ran.items() if v != "passed"}
    assert f"Outcome: UPGRADED: all {steps} steps done and observed" in run.flat_output()


def assert_blocked_after(run: "Run", step_no: int) -> None:
    """Every upgrade test of a later step was skipped as blocked by this step."""
    later = {k: v for k, v in run.outcomes().items() if "suites/upgrade/test_" in k
             and int(k.split("suites/upgrade/test_")[1][:2]) > step_no}
    assert later, "no later step was collected"
    for nodeid, outcome in later.items():
        assert outcome.startswith("skipped: blocked by step %d" % step_no), (nodeid, outcome)


def walk_steps(node):
    """An Allure result and all its nested steps."""
    yield node
    for child in node.get("steps", []):
        yield from walk_steps(child)


def attachment_names(run: "Run") -> set[str]:
    return {a["name"] for r in run.allure_results() for s in walk_steps(r) for a in s.get("attachments", [])}
