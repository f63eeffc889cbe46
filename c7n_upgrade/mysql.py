"""PyMySQL helpers: ensure database/user/grant (the guide's statements), verify, and queries.

The library takes plain arguments and never reads pytest configuration. Passwords are always
sent as query parameters; the SQL returned for reports shows them as ``'******'``. Errors are
:class:`MysqlError` whose message names ``user@host:port`` and never the password.
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any, Iterator

import pymysql
import pymysql.cursors

from .errors import C7nError

__all__ = [
    "MASK",
    "LoginFailure",
    "Mysql",
    "MysqlError",
    "ensure_app_database",
    "parse_grant",
    "user_can_login",
    "grants_all_on",
    "validate_identifier",
]

MASK = "******"
_IDENT = re.compile(r"[A-Za-z0-9_]+")


class MysqlError(C7nError):
    """A MySQL operation failed. The message names host:port and the user, never the password."""

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.code = code


class LoginFailure(str):
    """The error text of a failed login. It is a ``str`` that is *falsy*, so
    ``if user_can_login(...)`` means what it says."""

    def __bool__(self) -> bool:
        return False


def validate_identifier(value: str, what: str = "identifier") -> str:
    """Return ``value`` if it matches ``[A-Za-z0-9_]+``; raise ValueError otherwise."""
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise ValueError(f"invalid MySQL {what} {value!r}: only letters, digits and '_' are allowed")
    return value


def _describe(user: str, host: str, port: int) -> str:
    return f"{user}@{host}:{port}"


def _wrap(exc: BaseException, who: str, doing: str) -> MysqlError:
    code = exc.args[0] if getattr(exc, "args", None) and isinstance(exc.args[0], int) else None
    detail = exc.args[1] if code is not None and len(exc.args) > 1 else str(exc)
    return MysqlError(f"MySQL {who}: {doing} failed: {f'({code}) ' if code else ''}{detail}", code=code)


class Mysql:
    """One MySQL account with its one connection for the run, plus the queries the suite needs."""

    def __init__(self, host: str, port: int, user: str, password: str, connect_timeout: float = 5,
                 sql_timeout: float = 60):
        self.host = host
        self.port = int(port)
        self.user = user
        self.password = password
        self.connect_timeout = connect_timeout
        self.sql_timeout = sql_timeout  # seconds to read or write one statement's exchange
        #: called before the statements that change something; raises to stop them (the upgrade lock's check)
        self.before_write = None
        self._conn: pymysql.connections.Connection | None = None
        self._lock = threading.RLock()  # a PyMySQL connection serves one thread at a time
        self.opened = 0  # connections opened so far (one per run, plus a reopen after a drop)

    def __repr__(self) -> str:  # never the password
        return f"Mysql({self.host!r}, {self.port}, user={self.user!r})"

    @property
    def who(self) -> str:
        return _describe(self.user, self.host, self.port)

    @contextlib.contextmanager
    def connect(self, database: str | None = None) -> Iterator[pymysql.connections.Connection]:
        """This account's one connection for the run (autocommit), with `database` selected (USE,
        which checks the grant anew). Opened on first use, reopened once if the server dropped it,
        kept until close(). Connection errors -> MysqlError."""
        with self._lock:
            conn = self._connection(database)
            if database:
                try:
                    conn.select_db(database)
                except pymysql.MySQLError as e:
                    raise _wrap(e, self.who, f"connect to database {database}") from None
            yield conn

    def _connection(self, database: str | None) -> pymysql.connections.Connection:
        if self._conn is not None:
            try:
                self._conn.ping(reconnect=False)  # one round trip; a dropped connection is reopened once
                return self._conn
            except Exception:
                self.close()
        doing = f"connect{f' to database {database}' if database else ''}"
        try:
            self._conn = pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password.encode("utf-8"),  # PyMySQL would send a str as latin-1
                connect_timeout=self.connect_timeout,
                read_timeout=self.sql_timeout,
                write_timeout=self.sql_timeout,
                autocommit=True,
                charset="utf8mb4",
            )
        except (pymysql.MySQLError, OSError) as e:
            raise _wrap(e, self.who, doing) from None
        self.opened += 1
        return self._conn

    def close(self) -> None:
        """Close the connection (the run's end); the next use opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def can_use(self, database: str | None = None) -> "bool | LoginFailure":
        """``True`` if this account logs in (and may USE `database`), else a falsy LoginFailure saying why."""
        try:
            with self.connect(database) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
            return True
        except MysqlError as e:
            return LoginFailure(str(e))
        except pymysql.MySQLError as e:
            return LoginFailure(str(_wrap(e, self.who, "SELECT 1")))

    def query(self, sql: str, args: Any = None, database: str | None = None) -> list[dict]:
        """Run one statement, return rows as dicts."""
        with self.connect(database) as conn:
            try:
                with conn.cursor(pymysql.cursors.DictCursor) as cur:
                    cur.execute(sql, args)
                    return list(cur.fetchall())
            except pymysql.MySQLError as e:
                raise _wrap(e, self.who, "query") from None

    # ------------------------------------------------------------------ checks
    def server_version(self) -> str:
        """SELECT VERSION(): proves the server is reachable and the credentials work."""
        return str(self.query("SELECT VERSION() AS v")[0]["v"])

    def database_exists(self, database: str) -> bool:
        rows = self.query(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,)
        )
        return bool(rows)

    def grants_for(self, user: str, host: str = "%") -> list[str]:
        """``SHOW GRANTS FOR user@host`` as a list of strings; [] if the user does not exist."""
        try:
            with self.connect() as conn, conn.cursor() as cur:
                cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
                return [row[0] for row in cur.fetchall()]
        except pymysql.MySQLError as e:
            if e.args and e.args[0] in (1141, 1133):  # no such grant / no such user
                return []
            raise _wrap(e, self.who, f"SHOW GRANTS FOR {user}@{host}") from None

    def own_grants(self) -> list[str]:
        """``SHOW GRANTS FOR CURRENT_USER()``: what this login may do (any user may read its own)."""
        with self.connect() as conn, conn.cursor() as cur:
            try:
                cur.execute("SHOW GRANTS FOR CURRENT_USER()")
                return [row[0] for row in cur.fetchall()]
            except pymysql.MySQLError as e:
                raise _wrap(e, self.who, "SHOW GRANTS FOR CURRENT_USER()") from None

    def has_all_privileges_on(self, user: str, database: str, host: str = "%") -> bool:
        """True if ``user@host`` has ALL PRIVILEGES on ``database``.* (or on *.*)."""
        return grants_all_on(self.grants_for(user, host), database)

    # ------------------------------------------------------------------ Choerodon queries
    def latest_devops_check_log(self, database: str = "devops_service") -> dict | None:
        """The newest ``devops_check_log`` row (id, begin_check_date, end_check_date, log) or None."""
        validate_identifier(database, "database")
        rows = self.query(f"SELECT * FROM `{database}`.devops_check_log ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None


_GRANT_RE = re.compile(r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?:(?:TABLE|FUNCTION|PROCEDURE)\s+)?(?P<obj>\S+)\s+TO\s+", re.I)


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "`'\"":
        part = part[1:-1]
    return part.replace("\\_", "_").replace("\\%", "%")


def parse_grant(grant: str) -> tuple[list[str], str, str] | None:
    """``"GRANT ALL PRIVILEGES ON `db`.* TO `u`@`%`"`` -> (["ALL PRIVILEGES"], "db", "*").

    Returns None for lines that are not object grants (e.g. ``GRANT PROXY ...``, roles).
    """
    m = _GRANT_RE.match(grant.strip())
    if not m:
        return None
    obj = m.group("obj")
    # split db.table on the dot outside quotes
    depth_q = None
    split_at = -1
    for i, ch in enumerate(obj):
        if depth_q:
            if ch == depth_q:
                depth_q = None
        elif ch in "`'\"":
            depth_q = ch
        elif ch == ".":
            split_at = i
            break
    if split_at < 0:
        return None
    db, table = _unquote(obj[:split_at]), _unquote(obj[split_at + 1 :])
    privs = [p.strip().upper() for p in re.split(r",\s*(?![^()]*\))", m.group("privs"))]
    if privs == ["ALL"]:
        privs = ["ALL PRIVILEGES"]
    return privs, db, table


def grants_all_on(grants: list[str], database: str) -> bool:
    """True if one of these GRANT lines gives ALL PRIVILEGES on ``database``.* (or on *.*)."""
    for grant in grants:
        parsed = parse_grant(grant)
        if parsed is not None and "ALL PRIVILEGES" in parsed[0] and parsed[1] in ("*", database):
            return True
    return False


def user_can_login(
    host: str, port: int, user: str, password: str, database: str | None = None, *, connect_timeout: float = 5
) -> "bool | LoginFailure":
    """A login of its own, closed at once: ``True`` if it (and ``USE database``) works, else a falsy
    :class:`LoginFailure` whose text says why (it names user@host:port, never the password)."""
    account = Mysql(host, port, user, password, connect_timeout)
    try:
        return account.can_use(database)
    finally:
        account.close()


def ensure_app_database(admin: Mysql, database: str, app_user: str, app_password: str) -> list[str]:
    """Run the guide's statements for a service database; return them as run, password masked.

    ::

        CREATE USER IF NOT EXISTS 'choerodon'@'%' IDENTIFIED BY '******';
        CREATE DATABASE IF NOT EXISTS `notify_service` DEFAULT CHARACTER SET utf8;
        GRANT ALL PRIVILEGES ON `notify_service`.* TO 'choerodon'@'%';
        FLUSH PRIVILEGES;

    Idempotent. Like the guide, an existing user keeps its password (check it with
    :func:`user_can_login`).
    """
    validate_identifier(database, "database name")
    validate_identifier(app_user, "user name")
    if not isinstance(app_password, str) or not app_password:
        raise ValueError("the application user's password must be a non-empty string")
    # (sql to run, args, sql to show)
    statements: list[tuple[str, Any, str]] = [
        (
            f"CREATE USER IF NOT EXISTS '{app_user}'@'%%' IDENTIFIED BY %s",
            (app_password,),
            f"CREATE USER IF NOT EXISTS '{app_user}'@'%' IDENTIFIED BY '{MASK}'",
        ),
        (
            f"CREATE DATABASE IF NOT EXISTS `{database}` DEFAULT CHARACTER SET utf8",
            None,
            f"CREATE DATABASE IF NOT EXISTS `{database}` DEFAULT CHARACTER SET utf8",
        ),
        (
            f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{app_user}'@'%'",
            None,
            f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{app_user}'@'%'",
        ),
        ("FLUSH PRIVILEGES", None, "FLUSH PRIVILEGES"),
    ]
    shown: list[str] = []
    if admin.before_write is not None:
        admin.before_write(f"SQL for database {database}")
    with admin.connect() as conn:
        with conn.cursor() as cur:
            for sql, args, display in statements:
                try:
                    cur.execute(sql, args)
                except pymysql.MySQLError as e:
                    raise _wrap(e, admin.who, display) from None
                shown.append(display)
    return shown
