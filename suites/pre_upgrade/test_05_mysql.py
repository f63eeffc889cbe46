"""Pre-flight: MySQL takes the admin credentials, and the services' user logs in (or will be created)."""
from c7n_upgrade import operations


def test_mysql_admin_login(mysql_admin, reporter):
    """MySQL is reachable and the admin user can log in."""
    version = mysql_admin.server_version()
    reporter.attach("MySQL version", version)
    assert version


def test_mysql_app_user_login(mysql_admin, settings, reporter):
    """The services' user (mysql.user) logs in with mysql.password, or does not exist yet (step 5 creates it)."""
    reporter.note(operations.app_user_state(mysql_admin, settings.mysql_app))


def test_backup_can_be_taken(dump_tool, settings, reporter):
    """The MySQL client tools are here to dump the databases before the first write (or backup.skip_reason says why not)."""
    if settings.backup.skip_reason:
        reporter.note(f"no backup by the suite (backup.skip_reason): {settings.backup.skip_reason}")
        return
    missing = dump_tool.missing()
    assert not missing, missing
    reporter.note(f"the upgrade phase begins with a backup: {dump_tool.dump_tool}, checked with {dump_tool.client_tool}")
