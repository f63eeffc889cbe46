"""Post-upgrade proof: the new services' databases exist with their grants."""
import pytest

from c7n_upgrade import special
from fixtures.preflight import plan_steps


@pytest.mark.parametrize("database", [s.database for s in plan_steps() if s.database])
def test_database_and_grant(database, installation):
    """The database exists, the service user has ALL PRIVILEGES on it and can log in."""
    special.verify_database(installation, database)
