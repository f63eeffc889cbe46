"""The project's own tests: the sandbox's MariaDB binaries are made sure of only when a collected
test starts a sandbox (./run no longer installs them on every call)."""
from pathlib import Path

SANDBOX_USERS = {"sandbox", "e2e", "ops", "bench"}  # tests/<dir> whose tests start a sandbox
LAYERS = {"unit": "unit", "sandbox": "sandbox", "ops": "sandbox", "bench": "sandbox", "e2e": "e2e"}


def pytest_collection_modifyitems(config, items):
    """Every project test carries its layer's marker (`-m unit`, `-m "not e2e"`), from its directory."""
    import pytest

    here = Path(__file__).resolve().parent
    for item in items:
        try:
            layer = LAYERS.get(Path(item.path).resolve().relative_to(here).parts[0])
        except ValueError:
            continue
        if layer:
            item.add_marker(getattr(pytest.mark, layer))


def pytest_collection_finish(session):
    here = Path(__file__).resolve().parent
    dirs = set()
    for item in session.items:
        try:
            dirs.add(Path(item.path).resolve().relative_to(here).parts[0])
        except ValueError:
            continue
    if dirs & SANDBOX_USERS:
        import pytest

        from c7n_upgrade.throwaway_mariadb.install import ensure_mariadb

        try:
            ensure_mariadb(print)
        except RuntimeError as exc:
            raise pytest.UsageError(str(exc)) from None
