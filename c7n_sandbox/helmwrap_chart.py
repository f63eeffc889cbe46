"""Helm 2's stand-in for a post-renderer (helmwrap.py's helm-fail and unschedulable): Helm 2 has no
--post-renderer, so the wrapper renders the chart itself with the real Helm 2 (`helm fetch`, then
`helm template` with the call's values), changes the manifest (helmwrap_render.py) and hands Tiller a
chart of the same name and version whose only template is that manifest. The call's values reach
Tiller unchanged (the fault is in no revision's values); hook objects keep their annotations, so Tiller
still runs them as hooks. What differs: the chart Tiller stores has the rendered manifest as its
template (`helm get manifest` is the same; `helm inspect` of the stored chart is not).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

# flags of a Helm 2 install/upgrade that `helm template` takes as they are
_VALUES = {"-f", "--values", "--set", "--set-string", "--set-file"}


class RenderError(Exception):
    pass


def _chart_index(argv: list[str], chart_ref: str, valued: set[str]) -> int:
    """Where the chart argument is in argv: the last positional equal to it (not a flag's value), since
    the chart follows the release (`upgrade X X` names both the same)."""
    found, i = None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == chart_ref:
            found = i
        if arg.startswith("-") and "=" not in arg and arg in valued:
            i += 1
        i += 1
    if found is None:
        raise RenderError(f"no chart argument {chart_ref!r} in the call")
    return found


def _flag(argv: list[str], *names: str) -> Optional[str]:
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in names:
            return value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
    return None


def _values_flags(argv: list[str]) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(argv):
        name, eq, _ = arg.partition("=")
        if name in _VALUES:
            out += [arg] if eq else argv[i:i + 2]
    return out


def _run(real_helm: str, args: list[str], env: dict) -> str:
    result = subprocess.run([real_helm, *args], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RenderError(f"helm {args[0]} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stdout


def _namespace(directory: Path, argv: list[str]) -> str:
    given = _flag(argv, "--namespace")
    if given:
        return given
    try:
        return json.loads((directory / "sandbox.json").read_text())["namespace"]
    except (OSError, ValueError, KeyError):
        return "default"


def rendered_chart_argv(real_helm: str, argv: list[str], call: tuple, settings: list[str], env: dict,
                        directory: Path, valued: set[str], workdir: Path) -> list[str]:
    """argv with the chart argument replaced by a chart (under workdir) whose one template is the chart's
    manifest rendered with the call's values and changed by `settings` (helmwrap_render.py)."""
    from .helmwrap_render import render

    command, release, chart_ref, _dry = call
    index = _chart_index(argv, chart_ref, valued)
    fetched = workdir / "fetched"
    fetched.mkdir()
    if os.path.exists(chart_ref):
        source = Path(chart_ref)
    else:
        fetch = ["fetch", chart_ref, "--untar", "--untardir", str(fetched)]
        for name in ("--version", "--repo"):
            value = _flag(argv, name)
            if value:
                fetch += [name, value]
        _run(real_helm, fetch, env)
        source = next(p for p in fetched.iterdir() if p.is_dir())
    template = ["template", str(source), "--name", release, "--namespace", _namespace(directory, argv),
                *_values_flags(argv), *(["--is-upgrade"] if command == "upgrade" else [])]
    manifest = render(_run(real_helm, template, env), settings)
    if source.is_file():  # a packaged chart given as a path: its Chart.yaml for the name and version
        shutil.unpack_archive(str(source), str(fetched))
        source = next(p for p in fetched.iterdir() if p.is_dir())
    chart = workdir / "chart" / source.name
    (chart / "templates").mkdir(parents=True)
    shutil.copyfile(source / "Chart.yaml", chart / "Chart.yaml")
    if (source / "values.yaml").exists():
        shutil.copyfile(source / "values.yaml", chart / "values.yaml")
    # the manifest is text now, not a template: "{{" would start an action
    (chart / "templates" / "manifest.yaml").write_text(manifest.replace("{{", '{{ "{{" }}'))
    return [*argv[:index], str(chart), *argv[index + 1:]]


def workdir(directory: Path) -> Path:
    """A private scratch directory for one call (removed by the caller)."""
    return Path(tempfile.mkdtemp(prefix=".helm2-render-", dir=directory))
