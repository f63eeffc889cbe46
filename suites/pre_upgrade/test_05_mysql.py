"""Pre-flight: MySQL takes the admin credentials."""


def test_mysql_admin_login(mysql_admin, reporter):
    """MySQL is reachable and the admin user can log in."""
    version = mysql_admin.server_version()
    reporter.attach("MySQL version", version)
    assert version
