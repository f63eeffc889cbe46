"""Turn a suite run's Allure results into one self-contained HTML file that opens from file://.

    python -m c7n_upgrade.share [--run NAME|PATH] [--runs-dir reports/runs]
    python -m c7n_upgrade.share --results DIR [--out FILE] [--report-dir DIR] [--no-history]

Which results: by default the latest suite run under reports/runs/ that holds test results (each
run has its own directory there, see README "Where the results are"); `--run` names another (its
directory name, or a path); `--results` takes any Allure results dir (e.g. a run's `--alluredir`).

What it does:
1. finds the Allure 2 generator, installing it on demand with scripts/install-allure.sh
   (npm `allure-commandline`, pinned, into .tools/allure; it needs Java to run);
2. copies the results into a scratch dir, adding the history of the env's earlier reports
   (reports/history/<env>/, beside the runs dir) so that the trends show earlier runs of the same env;
3. generates the browsable report dir (in the run's directory: allure-report/) and updates the
   env's history from it (only from the newest run shared: re-sharing a run never counts it twice);
4. generates the single file with `allure generate --single-file`: in the run's directory
   (upgrade-report.html), copied to reports/upgrade-report.html, the latest report shared;
5. keeps every file it writes the operator's alone: files 0600, directories 0700 (reports/ included);
   the env's name becomes a directory name only sanitised (`safe_name`), so a `name` of `../../x`
   writes nothing outside the reports directory;
6. names the report after the run's outcome (`Choerodon 0.8 → 0.9 (prod): FAILED at step 11
   (devops-service)`, from environment.properties) and prints the HTML file's path on stdout
   (progress goes to stderr).

Allure 2, not 3: only Allure 2 honours the categories.json the suite writes.
Exit status: 0 when the file was written, 2 on bad input, 1 when the generator failed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import C7nError

ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = ROOT / "scripts" / "install-allure.sh"
REPORTS = ROOT / "reports"
REPORT_NAME = "Choerodon upgrade report"


def safe_name(name: str) -> str:
    """`name` as one directory name: only letters, digits, `.`, `_`, `-`; never `.` or `..` or empty."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", name or "").strip(".")[:60]
    return text or "default"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _private_tree(path: Path) -> None:
    """Directories 0700 and files 0600 under `path` (the generator writes with the umask)."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o700)
        for name in files:
            os.chmod(os.path.join(root, name), 0o600)


def _private_write(target: Path, data: bytes) -> None:
    """Write `target` atomically, 0600 from the first byte."""
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, target)


def _private_copy(source: Path, target: Path) -> None:
    _private_write(target, Path(source).read_bytes())


class ShareError(C7nError):
    """Something the operator must fix; the message says what."""


def _log(line: str) -> None:
    print(f"share: {line}", file=sys.stderr, flush=True)


def find_allure(install: bool = True) -> str:
    """The `allure` executable: $C7N_ALLURE_BIN, else the project-local install (made on demand)."""
    explicit = os.environ.get("C7N_ALLURE_BIN")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ShareError(f"C7N_ALLURE_BIN={explicit} is not an executable file")
        return explicit
    if not install:
        raise ShareError("the Allure generator is not installed (run scripts/install-allure.sh)")
    try:
        proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise ShareError("scripts/install-allure.sh did not finish within 10 minutes") from None
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ShareError(f"could not install the Allure generator: {last}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise ShareError("scripts/install-allure.sh printed no path")
    return lines[-1].strip()


def _stage(results: Path, history: Path | None, stage: Path) -> int:
    """Copy the results (flat files) and the previous history into `stage`. Returns history files copied."""
    for item in results.iterdir():
        if item.is_file():
            shutil.copy2(item, stage / item.name)
    copied = 0
    if history is not None and history.is_dir():
        target = stage / "history"
        target.mkdir(exist_ok=True)
        for item in history.iterdir():
            if item.is_file():
                shutil.copy2(item, target / item.name)
                copied += 1
    return copied


def _generate(allure: str, source: Path, out: Path, single_file: bool, name: str, lang: str) -> None:
    argv = [allure, "generate", str(source), "-o", str(out), "--clean", "--name", name, "--lang", lang]
    if single_file:
        argv.insert(2, "--single-file")
    # No Google Analytics: no gtag <script> from the internet in the shared file, no ping while generating.
    env = dict(os.environ, ALLURE_NO_ANALYTICS="true")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    except FileNotFoundError:
        raise ShareError(f"cannot run {allure}") from None
    except subprocess.TimeoutExpired:
        raise ShareError(f"`{' '.join(argv)}` did not finish within 5 minutes") from None
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout).strip()
        if "JAVA_HOME" in text or "java: not found" in text or "java: command not found" in text:
            raise ShareError(f"Allure needs Java: {text.splitlines()[-1] if text else ''}")
        raise ShareError(f"`{' '.join(argv)}` exited {proc.returncode}: {text[-2000:]}")


def build(results: Path, out: Path, report_dir: Path | None, *, keep_history: bool = True,
          allure: str | None = None, name: str = REPORT_NAME, lang: str = "en",
          history: Path | None = None) -> Path:
    """Generate `out` (single HTML file) and, when given, the browsable `report_dir`. Returns `out`.
    The trend's history comes from `history` when given, else from `report_dir`/history."""
    results = Path(results)
    if not results.is_dir():
        raise ShareError(f"no Allure results at {results}: run the suite first "
                         "(each run writes them to reports/runs/<run>/allure-results)")
    if not any(p.name.endswith(("-result.json", "-container.json")) for p in results.iterdir()):
        raise ShareError(f"{results} holds no Allure result files (*-result.json): run the suite first")
    allure = allure or find_allure()
    out = Path(out)
    if not out.parent.is_dir():
        _private_dir(out.parent)
    with tempfile.TemporaryDirectory(prefix="c7n-share-") as tmp:
        tmp_path = Path(tmp)
        stage = tmp_path / "results"
        stage.mkdir()
        if history is None and keep_history and report_dir is not None:
            history = report_dir / "history"
        n = _stage(results, history if keep_history else None, stage)
        if n:
            _log(f"history: {n} files from {history}")
        if report_dir is not None:
            _log(f"generating the report dir {report_dir}")
            _generate(allure, stage, Path(report_dir), single_file=False, name=name, lang=lang)
            _private_tree(Path(report_dir))
        _log("generating the single-file report")
        single = tmp_path / "single"
        _generate(allure, stage, single, single_file=True, name=name, lang=lang)
        index = single / "index.html"
        if not index.is_file():
            raise ShareError(f"allure wrote no index.html in {single}")
        _private_copy(index, out)
    return out


def properties(results: Path) -> dict[str, str]:
    """environment.properties of a results dir (the suite writes env, plan and the run's outcome there)."""
    path = Path(results) / "environment.properties"
    out = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                out[key.strip()] = _unescape(value.strip())
    return out


def _unescape(value: str) -> str:
    """A Java properties value: `\\uXXXX` escapes (UTF-16, surrogate pairs included) and `\\\\`."""
    text = re.sub(r"\\(u[0-9a-fA-F]{4}|\\)", lambda m: "\\" if m.group(1) == "\\" else
                  chr(int(m.group(1)[1:], 16)), value)
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


def report_name(props: dict[str, str]) -> str:
    """The report's title, its first screen: the plan, the env and the run's outcome."""
    if not props.get("outcome"):
        return REPORT_NAME
    title = props.get("plan.title") or props.get("plan") or "Choerodon upgrade"
    env = f" ({props['env']})" if props.get("env") else ""
    return f"{title}{env}: {props['outcome']}"


def _has_results(results: Path) -> bool:
    return results.is_dir() and any(p.name.endswith("-result.json") for p in results.iterdir())


def pick_run(runs_dir: Path, run: str | None) -> Path:
    """The run directory to build: the one named (a name under `runs_dir`, or a path), else the latest
    that holds test results (run directories are named `<UTC time>-<env>`, so their names sort by time)."""
    if run:
        path = Path(run)
        for candidate in (path, runs_dir / run):
            if candidate.is_dir():
                return candidate
        names = sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
        raise ShareError(f"no run {run!r} in {runs_dir}" + (f"; the latest are: {', '.join(names[-5:])}" if names
                                                            else ""))
    if not runs_dir.is_dir():
        raise ShareError(f"no Allure results at {runs_dir}: run the suite first (each run keeps its results "
                         "in a directory of its own there)")
    for path in sorted((p for p in runs_dir.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True):
        if _has_results(path / "allure-results"):
            return path
        _log(f"skipping {path.name}: no test results (see its run.log)")
    raise ShareError(f"no Allure results at {runs_dir}: no suite run there holds test results; run the suite first")


def share_run(run_dir: Path, *, reports: Path = REPORTS, keep_history: bool = True, allure: str | None = None,
              name: str | None = None, lang: str = "en") -> Path:
    """Build a run's report in its directory, with the env's history; copy it to reports/. Returns the copy."""
    results = run_dir / "allure-results"
    _private_dir(run_dir)  # the run made it 0700; a copied or older one may be wider
    props = properties(results)
    history_dir = reports / "history" / safe_name(props.get("env") or "default")
    snapshot = run_dir / "history-in"  # the history this run was first built with: a re-share reuses it
    if keep_history and not snapshot.is_dir() and history_dir.is_dir():
        shutil.copytree(history_dir, snapshot, ignore=shutil.ignore_patterns("last-run"))
    report_dir = run_dir / "allure-report"
    out = build(results, run_dir / "upgrade-report.html", report_dir, keep_history=keep_history,
                allure=allure, name=name or report_name(props), lang=lang,
                history=snapshot if keep_history else None)
    last = history_dir / "last-run"
    newest = not last.is_file() or last.read_text().strip() <= run_dir.name
    if keep_history and newest and (report_dir / "history").is_dir():
        _private_dir(reports)
        _private_dir(reports / "history")
        _private_dir(history_dir)
        for item in (report_dir / "history").iterdir():
            _private_copy(item, history_dir / item.name)
        _private_write(last, (run_dir.name + "\n").encode())
    if snapshot.is_dir():
        _private_tree(snapshot)
    _private_dir(reports)
    _private_copy(out, reports / "upgrade-report.html")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m c7n_upgrade.share",
        description="Turn a suite run's Allure results into one self-contained HTML file (opens from file://).")
    parser.add_argument("--run", default=None, metavar="NAME|PATH",
                        help="the run to build: its directory name under --runs-dir, or a path (default: the latest "
                             "run that holds test results)")
    parser.add_argument("--runs-dir", default=os.environ.get("C7N_RUNS_DIR") or str(REPORTS / "runs"),
                        help="where the suite keeps each run's results (default: $C7N_RUNS_DIR or reports/runs)")
    parser.add_argument("--results", default=None,
                        help="build this Allure results dir instead of a run (e.g. a run's --alluredir)")
    parser.add_argument("--out", default=None, help="with --results: the HTML file to write "
                                                    "(default: reports/upgrade-report.html)")
    parser.add_argument("--report-dir", default=None,
                        help="with --results: browsable report dir; its history/ carries trends to the next build "
                             "(default: reports/allure-report)")
    parser.add_argument("--no-history", action="store_true", help="do not carry earlier reports' history over")
    parser.add_argument("--name", default=None, help="report title (default: the plan, env and the run's outcome)")
    parser.add_argument("--lang", default=os.environ.get("C7N_LANG", "en"), choices=["en", "zh"],
                        help="report UI language (default: $C7N_LANG or en)")
    args = parser.parse_args(argv)
    try:
        if args.results:
            results = Path(args.results)
            out = build(results, Path(args.out) if args.out else REPORTS / "upgrade-report.html",
                        Path(args.report_dir) if args.report_dir else REPORTS / "allure-report",
                        keep_history=not args.no_history, name=args.name or report_name(properties(results)),
                        lang=args.lang)
        else:
            run_dir = pick_run(Path(args.runs_dir), args.run)
            _log(f"run {run_dir.name}: {report_name(properties(run_dir / 'allure-results'))}")
            # the history and the latest copy go beside the runs (reports/ for reports/runs)
            out = share_run(run_dir, reports=Path(args.runs_dir).resolve().parent, keep_history=not args.no_history,
                            name=args.name, lang=args.lang)
    except ShareError as exc:
        _log(f"error: {exc}")
        return 2 if "no Allure results" in str(exc) or "no Allure result files" in str(exc) or "no run " in str(exc) else 1
    print(out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
