"""Drive the suite the way an operator does: a sandbox started with `up`, pytest in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from c7n_upgrade.sandbox.process import SandboxProcess

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
        subprocess.run([sys.executable, "-m", "c7n_upgrade.sandbox", "fault", "--dir", str(self.dir), *args],
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

    def env_with(self, name: str, **overrides) -> Path:
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

    def databases(self) -> set[str]:
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return {row[0] for row in cur.fetchall()}

    def pin_image(self, release: str, chart_version: str, tag: str) -> None:
        """Re-deploy `release` at `chart_version` with its values plus `image.tag: TAG`, as an operator
        who once pinned the image would have (hooks skipped: an earlier hook Job may still be there)."""
        helm = str(self.dir / "bin" / "helm")
        values = json.loads(subprocess.run([helm, "get", "values", release, "--output", "json"],
                                           capture_output=True, text=True, check=True).stdout)
        values["image"] = {"tag": tag}
        pinned = self.dir / f"pinned-{release}.yaml"
        pinned.write_text(yaml.safe_dump(values))
        subprocess.run([helm, "upgrade", release, f"c7n/{release}", "--version", chart_version, "-f", str(pinned),
                        "--no-hooks"], capture_output=True, check=True, timeout=60)

    def writes(self) -> list[list[str]]:
        """helm calls that change something: upgrade and install."""
        return [c["argv"] for c in self.helm_calls() if c["argv"][:1] in (["upgrade"], ["install"])]


@dataclass
class Run:
    exit_code: int
    output: str
    alluredir: Path
    junit: Path

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
        parts = [self.output]
        for path in self.alluredir.iterdir():
            if path.is_file():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def run_suite(tmp: Path, *args: str, env_extra: dict | None = None, ci: bool = False,
              timeout: float = 600) -> Run:
    """`pytest suites/... ARGS` in a subprocess, with its own allure dir and JUnit file."""
    return start_suite(tmp, *args, env_extra=env_extra, ci=ci).finish(timeout)


@dataclass
class RunningSuite:
    """A suite run in progress (`start_suite`): its process, and the Run once it has finished."""

    proc: subprocess.Popen
    base: Path

    def finish(self, timeout: float = 600) -> Run:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            (self.base / "output.txt").write_text(out + err)
            raise
        output = out + err
        (self.base / "output.txt").write_text(output)
        return Run(self.proc.returncode, output, self.base / "allure-results", self.base / "junit.xml")


def start_suite(tmp: Path, *args: str, env_extra: dict | None = None, ci: bool = False) -> RunningSuite:
    """`pytest suites/... ARGS` started in a subprocess (signal it, then `finish()` it)."""
    tmp.mkdir(parents=True, exist_ok=True)
    n = len(list(tmp.glob("run-*")))
    base = tmp / f"run-{n}"
    base.mkdir()
    alluredir, junit = base / "allure-results", base / "junit.xml"
    argv = [sys.executable, "-m", "pytest", *args, f"--alluredir={alluredir}", f"--junitxml={junit}",
            "-p", "no:cacheprovider", "-o", "junit_family=xunit2", "-rA"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(env_extra, ci=ci), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    return RunningSuite(proc, base)


def walk_steps(node):
    """An Allure result and all its nested steps."""
    yield node
    for child in node.get("steps", []):
        yield from walk_steps(child)


def attachment_names(run: "Run") -> set[str]:
    return {a["name"] for r in run.allure_results() for s in walk_steps(r) for a in s.get("attachments", [])}
