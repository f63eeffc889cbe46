"""Turn Allure results into one self-contained HTML file that opens from file://.

    python -m c7n_upgrade.share [--results reports/allure-results] [--out reports/upgrade-report.html]
                                [--report-dir reports/allure-report] [--no-history]

What it does:
1. finds the Allure 2 generator, installing it on demand with scripts/install-allure.sh
   (npm `allure-commandline`, pinned, into .tools/allure; it needs Java to run);
2. copies the results into a scratch dir, adding the previous report's history/ so that the
   trend widgets and each test's history show earlier runs (Allure 2 keeps history this way);
3. generates the browsable report dir (`--report-dir`, which keeps history/ for the next run);
4. generates the single file with `allure generate --single-file` and writes it to `--out`;
5. prints the path of the HTML file on stdout (progress goes to stderr).

Allure 2, not 3: only Allure 2 honours the categories.json the suite writes.
Exit status: 0 when the file was written, 2 on bad input, 1 when the generator failed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = ROOT / "scripts" / "install-allure.sh"
REPORT_NAME = "Choerodon upgrade report"


class ShareError(Exception):
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
          allure: str | None = None, name: str = REPORT_NAME, lang: str = "en") -> Path:
    """Generate `out` (single HTML file) and, when given, the browsable `report_dir`. Returns `out`."""
    results = Path(results)
    if not results.is_dir():
        raise ShareError(f"no Allure results at {results}: run the suite first "
                         "(pytest writes them to reports/allure-results)")
    if not any(p.name.endswith(("-result.json", "-container.json")) for p in results.iterdir()):
        raise ShareError(f"{results} holds no Allure result files (*-result.json): run the suite first")
    allure = allure or find_allure()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="c7n-share-") as tmp:
        tmp_path = Path(tmp)
        stage = tmp_path / "results"
        stage.mkdir()
        history = report_dir / "history" if (keep_history and report_dir is not None) else None
        n = _stage(results, history, stage)
        if n:
            _log(f"history: {n} files from {history}")
        if report_dir is not None:
            _log(f"generating the report dir {report_dir}")
            _generate(allure, stage, Path(report_dir), single_file=False, name=name, lang=lang)
        _log("generating the single-file report")
        single = tmp_path / "single"
        _generate(allure, stage, single, single_file=True, name=name, lang=lang)
        index = single / "index.html"
        if not index.is_file():
            raise ShareError(f"allure wrote no index.html in {single}")
        tmp_out = out.with_name(out.name + ".tmp")
        shutil.copyfile(index, tmp_out)
        os.replace(tmp_out, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m c7n_upgrade.share",
        description="Turn Allure results into one self-contained HTML file (opens from file://).")
    parser.add_argument("--results", default="reports/allure-results", help="Allure results dir (default: %(default)s)")
    parser.add_argument("--out", default="reports/upgrade-report.html", help="the HTML file to write (default: %(default)s)")
    parser.add_argument("--report-dir", default="reports/allure-report",
                        help="browsable report dir; its history/ carries trends to the next run (default: %(default)s)")
    parser.add_argument("--no-history", action="store_true", help="do not carry the previous report's history over")
    parser.add_argument("--name", default=REPORT_NAME, help="report title (default: %(default)s)")
    parser.add_argument("--lang", default=os.environ.get("C7N_LANG", "en"), choices=["en", "zh"],
                        help="report UI language (default: $C7N_LANG or en)")
    args = parser.parse_args(argv)
    try:
        out = build(Path(args.results), Path(args.out), Path(args.report_dir) if args.report_dir else None,
                    keep_history=not args.no_history, name=args.name, lang=args.lang)
    except ShareError as exc:
        _log(f"error: {exc}")
        return 2 if "no Allure results" in str(exc) or "no Allure result files" in str(exc) else 1
    print(out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
