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
