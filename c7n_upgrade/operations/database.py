"""A new service's database: the guide's CREATE USER / DATABASE / GRANT for what is missing, then verified."""
from __future__ import annotations

from .. import mysql
from ..report import StepLog


def ensure_database(admin: mysql.Mysql, app: mysql.Mysql, database: str, log: StepLog, *,
                    dry_run: bool) -> list[str]:
    """Create only what is missing (user, database, grant), record the SQL, then verify. Returns the SQL."""
    with log.step("database", database=database, user=app.user):
        with log.failing_on(mysql.MysqlError):
            exists = admin.database_exists(database)
            granted = exists and admin.has_all_privileges_on(app.user, database)
        if exists and granted:
            log.note(f"database {database} exists and {app.user} has all privileges: nothing to create")
            sql = []
        elif dry_run:
            sql = [f"CREATE USER IF NOT EXISTS '{app.user}'@'%' IDENTIFIED BY '******'",
                   f"CREATE DATABASE IF NOT EXISTS `{database}` DEFAULT CHARACTER SET utf8",
                   f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{app.user}'@'%'", "FLUSH PRIVILEGES"]
            log.attach(f"SQL (dry run, not executed) {database}", "\n".join(s + ";" for s in sql), "sql")
            return sql
        else:
            with log.failing_on(mysql.MysqlError):
                sql = mysql.ensure_app_database(admin, database, app.user, app.password)
            log.attach(f"SQL {database}", "\n".join(s + ";" for s in sql), "sql")
        verify_database(admin, app, database, log)
        return sql


def verify_database(admin: mysql.Mysql, app: mysql.Mysql, database: str, log: StepLog) -> None:
    """The database exists, the app user has ALL PRIVILEGES on it and can log in to it (on its run's
    one connection: USE checks the grant anew)."""
    with log.failing_on(mysql.MysqlError):
        if not admin.database_exists(database):
            raise log.failed(f"database {database} does not exist")
        if not admin.has_all_privileges_on(app.user, database):
            raise log.failed(f"user {app.user}@'%' lacks ALL PRIVILEGES on {database}")
        login = app.can_use(database)
    if login is not True:
        raise log.failed(f"user {app.user} cannot log in to {database}: {login}")


def verify_database_as_app(app_db: mysql.Mysql, database: str, log: StepLog) -> None:
    """The read-only proof, as the services' own user (no admin login): it logs in to the database,
    which proves the database exists, and its own grants give it ALL PRIVILEGES there."""
    with log.failing_on(mysql.MysqlError):
        login = app_db.can_use(database)
        if login is not True:
            raise log.failed(f"user {app_db.user} cannot use {database} (it does not exist, or the user has no "
                             f"grant there): {login}")
        if not mysql.grants_all_on(app_db.own_grants(), database):
            raise log.failed(f"user {app_db.user} lacks ALL PRIVILEGES on {database}")


def app_user_state(admin: mysql.Mysql, app: mysql.Mysql) -> str:
    """Whether the services' MySQL user can log in now, said in one line; `MysqlError` when it exists
    and cannot (a wrong password would otherwise show only at step 5, after four upgrades)."""
    if not admin.grants_for(app.user):
        return f"{app.user}@'%' does not exist yet: step 5 creates it with the env's password"
    login = app.can_use()
    if login is not True:
        raise mysql.MysqlError(f"{app.user} exists and cannot log in with the env's mysql.password: {login}")
    return f"{app.user} logs in with the env's mysql.password"
