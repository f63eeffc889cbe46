"""Post-upgrade proof: the new services' databases exist with their grants, read as the services' user."""
import pytest

from c7n_upgrade import operations


@pytest.mark.each_step("database", lambda step: step.database)
def test_database_and_grant(database, mysql_app, step_log):
    """The service user logs in to the database and has ALL PRIVILEGES on it (no admin login needed)."""
    operations.verify_database_as_app(mysql_app, database, step_log)
