"""One exception root: every exception class the library defines derives from `C7nError` (the
sandbox, its own package c7n_sandbox, is outside the rule), so the plugin tells a clean failure from a bug
with one `except`."""
from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from c7n_upgrade.access import ClusterAccess, ServiceUnreachable
from c7n_upgrade.errors import C7nError
from c7n_upgrade.settings import HttpAccess

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "c7n_upgrade"


def library_modules() -> list[str]:
    names = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if LIBRARY / "sandbox" in path.parents or path.name == "__main__.py":
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def exception_classes() -> dict[str, type]:
    """Every exception class defined (not only imported) in a library module, by qualified name."""
    found = {}
    for name in library_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == name:
                found[f"{name}.{cls.__qualname__}"] = cls
    return found


#: imported at collection: some modules resolve a library at import (helm/runner.py's prctl asks
#: ldconfig), which a test here may not do
CLASSES = exception_classes()


def test_every_library_exception_derives_from_the_root():
    classes = CLASSES
    # the walk found the library's kinds (a sample of those the plugin once listed one by one)
    assert {"c7n_upgrade.report.StepFailed", "c7n_upgrade.helm.results.HelmError",
            "c7n_upgrade.kube.errors.ClusterUnreachable", "c7n_upgrade.config.model.ConfigError",
            "c7n_upgrade.waiters.WaitTimeout"} <= set(classes)
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, C7nError))
    assert not outside, f"library exceptions outside C7nError: {outside}"


@pytest.mark.parametrize("name, builtin", [
    ("c7n_upgrade.helm.results.HelmParseError", ValueError),  # callers catching ValueError still do
])
def test_builtin_bases_are_kept(name, builtin):
    assert issubclass(CLASSES[name], builtin)


def test_a_stray_root_is_found(tmp_path, monkeypatch):
    """The walk sees a class that is not under the root (the check can fail)."""
    package = tmp_path / "c7n_upgrade_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "stray.py").write_text("class Stray(RuntimeError):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "LIBRARY", package)
    classes = exception_classes()
    assert list(classes) == ["c7n_upgrade_probe.stray.Stray"]
    assert not issubclass(classes["c7n_upgrade_probe.stray.Stray"], C7nError)


def test_a_service_without_an_answer_is_a_library_error(monkeypatch):
    """The one HTTP error the library let through (a Service's GET in direct mode) is under the root."""
    def refused(url, **kwargs):
        raise requests.ConnectionError(f"{url}: connection refused")

    monkeypatch.setattr(requests, "get", refused)
    svc = SimpleNamespace(name="register-server", cluster_ip="127.10.0.9", ports={"http": 8000},
                          port=lambda wanted=None: 8000)
    access = ClusterAccess(SimpleNamespace(service=lambda name: svc), HttpAccess(mode="direct", timeout=1.0))
    with pytest.raises(ServiceUnreachable, match=r"^ConnectionError: http://127.10.0.9:8000/eureka/apps: connection"):
        access.service_get("register-server", 8000, "/eureka/apps")
