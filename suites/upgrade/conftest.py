"""The upgrade phase runs under the upgrade lock: a second concurrent run refuses to start."""
import pytest


@pytest.fixture(autouse=True)
def _under_the_upgrade_lock(upgrade_lock):
    return upgrade_lock
