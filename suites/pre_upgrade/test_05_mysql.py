"""Pre-flight: MySQL takes the admin credentials, and the services' user logs in (or will be created)."""
from c7n_upgrade import operations


def test_mysql_admin_login(mysql_admin, reporter):
    """MySQL is reachable and the admin user can log in."""
    version = mysql_admin.server_version()
    reporter.attach("MySQL version", version)
    assert version


def test_mysql_app_user_login(mysql_admin, mysql_app, reporter):
    """The services' user (mysql.user) logs in with mysql.password, or does not exist yet (step 5 creates it)."""
    reporter.note(operations.app_user_state(mysql_admin, mysql_app))


def test_backup_can_be_taken(dump_tool, settings, reporter):
    """The MySQL client tools are here to dump the databases before the first write (or backup.skip_reason says why not)."""
    if settings.backup.skip_reason:
        reporter.note(f"no backup by the suite (backup.skip_reason): {settings.backup.skip_reason}")
        return
    missing = dump_tool.missing()
    assert not missing, missing
    reporter.note(f"the upgrade phase begins with a backup: {dump_tool.dump_tool}, checked with {dump_tool.client_tool}")


def test_the_restore_check_has_room(mysql_admin, settings, reporter):
    """Each dump is proven to restore: by default into a throwaway MariaDB here (its binaries must be here;
    nothing is created on the MySQL server); with backup.restore_check: server, into scratch databases on
    the server, which must have the databases' size free where it says how much it has."""
    if settings.backup.skip_reason:
        return
    from c7n_upgrade.throwaway_mariadb.install import restore_check_missing

    size = operations.databases_size(mysql_admin)
    if settings.backup.restore_check != "server":
        missing = restore_check_missing()
        assert not missing, missing
        reporter.note(f"the restore check runs a throwaway MariaDB on this machine: allow {_gib(size)} free "
                      "for it beside the dumps")
        return
    free = operations.server_free_bytes(mysql_admin)
    if free is None:
        reporter.note(f"the restore check writes scratch databases on the server: it needs about {_gib(size)} "
                      "free there (this server does not say how much it has: check it by hand)")
        return
    assert free > size, (f"the restore check would write up to {_gib(size)} of scratch databases on a server "
                             f"with {_gib(free)} free: free space there, or set backup.restore_check: bastion")


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"
