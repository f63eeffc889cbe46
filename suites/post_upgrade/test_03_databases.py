"""Post-upgrade proof: the new services' databases exist with their grants."""
import pytest

from c7n_upgrade import operations
from fixtures.preflight import plan_steps


@pytest.mark.parametrize("database", [s.database for s in plan_steps() if s.database])
def test_database_and_grant(database, mysql_admin, settings, step_log):
    """The database exists, the service user has ALL PRIVILEGES on it and can log in."""
    operations.verify_database(mysql_admin, settings.mysql_app, database, step_log)
