"""c7n_upgrade.mysql against a throwaway MariaDB (the sandbox's server class)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from c7n_upgrade.mysql import (
    MASK,
    LoginFailure,
    Mysql,
    MysqlError,
    ensure_app_database,
    parse_grant,
    user_can_login,
    validate_identifier,
)
from c7n_sandbox.mariadb import MariaDB, MariaDBMissing, TcpProxy, ensure_binaries, seed_08_state


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        ensure_binaries()
    except MariaDBMissing as e:
        pytest.fail(str(e))
    db = MariaDB(tmp_path_factory.mktemp("mysql"), secrets.token_urlsafe(12))
    db.start()
    db.app_password = secrets.token_urlsafe(12)
    seed_08_state(db, app_password=db.app_password)
    pid = db.pid
    yield db
    db.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.fixture
def admin(server):
    account = Mysql(server.host, server.port, "root", server.root_password)
    yield account
    account.close()


def _connections(server) -> int:
    """The server's own count of connection attempts (SHOW GLOBAL STATUS 'Connections'), on a login of its own."""
    with server.connect("root", server.root_password) as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
        return int(cur.fetchone()[1])


def test_one_account_opens_one_connection_for_all_its_calls(server):
    """What a run does as the admin and as the services' user, counted by the server: one login each."""
    admin = Mysql(server.host, server.port, "root", server.root_password)
    app = Mysql(server.host, server.port, "choerodon", server.app_password)
    before = _connections(server)
    try:
        assert admin.server_version() and admin.database_exists("devops_service")
        assert admin.has_all_privileges_on("choerodon", "devops_service") and admin.grants_for("choerodon")
        assert admin.query("SELECT 1 AS one", database="devops_service") == [{"one": 1}]
        admin.latest_devops_check_log()  # a read, whatever the table holds
        for _ in range(3):
            assert app.can_use("devops_service") is True and app.own_grants()
        refused = app.can_use("mysql")  # a USE the grant refuses keeps the connection
        assert not refused and "1044" in refused and app.can_use() is True
        after = _connections(server)
    finally:
        admin.close()
        app.close()
    assert after - before == 1 + 2  # the counting login of `after`, then one per account
    assert (admin.opened, app.opened) == (1, 1)


def test_a_dropped_connection_is_reopened_once_and_close_ends_it(server, admin):
    assert admin.server_version()
    with admin.connect() as conn:
        thread = conn.thread_id()
    with server.connect("root", server.root_password) as other, other.cursor() as cur:
        cur.execute(f"KILL {int(thread)}")  # the server drops it (wait_timeout, a restart, a proxy)
    assert admin.database_exists("devops_service") and admin.opened == 2
    with admin.connect() as conn:
        thread = conn.thread_id()
    admin.close()
    with server.connect("root", server.root_password) as other, other.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s", (thread,))
        assert cur.fetchone()[0] == 0


def test_a_server_that_goes_away_fails_the_next_call_and_comes_back(server):
    """The db-down fault cuts open connections and refuses new ones: one reconnect, refused, is the error."""
    proxy = TcpProxy("127.0.0.1", server.host, server.port).start()
    m = Mysql("127.0.0.1", proxy.port, "root", server.root_password, connect_timeout=2)
    try:
        assert m.server_version()
        proxy.refuse(True)
        with pytest.raises(MysqlError) as ei:
            m.server_version()
        assert ei.value.code == 2003 and m.opened == 1
        proxy.refuse(False)
        assert m.server_version() and m.opened == 2
    finally:
        m.close()
        proxy.stop()


def test_ensure_app_database_creates_and_is_idempotent(server, admin):
    app_pw = secrets.token_urlsafe(16)
    assert not admin.database_exists("notify_service")
    assert user_can_login(server.host, server.port, "svcuser", app_pw, "notify_service") is not True

    first = ensure_app_database(admin, "notify_service", "svcuser", app_pw)
    assert first == [
        f"CREATE USER IF NOT EXISTS 'svcuser'@'%' IDENTIFIED BY '{MASK}'",
        "CREATE DATABASE IF NOT EXISTS `notify_service` DEFAULT CHARACTER SET utf8",
        "GRANT ALL PRIVILEGES ON `notify_service`.* TO 'svcuser'@'%'",
        "FLUSH PRIVILEGES",
    ]
    second = ensure_app_database(admin, "notify_service", "svcuser", app_pw)
    assert second == first
    assert all(app_pw not in s for s in first + second)

    assert admin.database_exists("notify_service")
    assert admin.has_all_privileges_on("svcuser", "notify_service")
    assert not admin.has_all_privileges_on("svcuser", "asgard_service")
    assert user_can_login(server.host, server.port, "svcuser", app_pw, "notify_service") is True
    rows = admin.query(
        "SELECT DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        ("notify_service",),
    )
    assert rows[0]["cs"] in ("utf8", "utf8mb3")


def test_ensure_for_existing_seed_user_keeps_its_password(server, admin):
    """The guide's statements on the 0.8 user 'choerodon': the 0.8 password keeps working."""
    shown = ensure_app_database(admin, "asgard_service", "choerodon", server.app_password)
    assert server.app_password not in "\n".join(shown)
    assert admin.has_all_privileges_on("choerodon", "asgard_service")
    assert admin.has_all_privileges_on("choerodon", "devops_service")
    assert user_can_login(server.host, server.port, "choerodon", server.app_password, "asgard_service") is True


def test_grants_parsed(admin):
    grants = admin.grants_for("choerodon")
    assert any("`devops_service`.*" in g for g in grants)
    assert admin.grants_for("nobody-here") == []
    assert admin.has_all_privileges_on("root", "anything", host="127.0.0.1")  # via *.*
    assert not admin.has_all_privileges_on("choerodon", "mysql")


@pytest.mark.parametrize(
    "grant, expected",
    [
        ("GRANT ALL PRIVILEGES ON `notify_service`.* TO `choerodon`@`%`", (["ALL PRIVILEGES"], "notify_service", "*")),
        ("GRANT ALL PRIVILEGES ON `notify\\_service`.* TO 'choerodon'@'%'", (["ALL PRIVILEGES"], "notify_service", "*")),
        ("GRANT USAGE ON *.* TO `choerodon`@`%` IDENTIFIED BY PASSWORD '*ABC'", (["USAGE"], "*", "*")),
        (
            "GRANT SELECT, INSERT, UPDATE (a, b) ON `db`.`t` TO 'u'@'%'",
            (["SELECT", "INSERT", "UPDATE (A, B)"], "db", "t"),
        ),
        ("GRANT ALL ON db.* TO u@'%'", (["ALL PRIVILEGES"], "db", "*")),
        ("GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION", None),
    ],
)
def test_parse_grant(grant, expected):
    assert parse_grant(grant) == expected


def test_user_can_login_false_is_falsy_with_reason(server):
    result = user_can_login(server.host, server.port, "choerodon", "wrong-" + server.app_password, "devops_service")
    assert isinstance(result, LoginFailure) and not result
    assert "1045" in result and f"choerodon@{server.host}:{server.port}" in result
    assert server.app_password not in result
    no_db = user_can_login(server.host, server.port, "choerodon", server.app_password, "notify_service_missing")
    assert not no_db and "1044" in no_db
    assert user_can_login(server.host, server.port, "choerodon", server.app_password, "devops_service") is True


@pytest.mark.parametrize("bad", ["", "notify-service", "a;DROP DATABASE x", "db`", "o'hara", "x y", "ü", None])
def test_identifiers_rejected(admin, bad):
    with pytest.raises(ValueError):
        ensure_app_database(admin, bad, "choerodon", "pw")
    with pytest.raises(ValueError):
        ensure_app_database(admin, "notify_service", bad, "pw")


def test_validate_identifier_ok():
    assert validate_identifier("notify_service") == "notify_service"
    assert validate_identifier("Choerodon1") == "Choerodon1"


def test_password_never_in_sql_even_with_quotes(server, admin):
    pw = "it's \"odd\" %s %% \\ ;--"
    shown = ensure_app_database(admin, "quote_db", "quoteuser", pw)
    joined = "\n".join(shown)
    assert pw not in joined and "odd" not in joined and MASK in joined
    assert user_can_login(server.host, server.port, "quoteuser", pw, "quote_db") is True


def test_latest_devops_check_log(server, admin):
    assert admin.latest_devops_check_log() is None
    with server.connect("choerodon", server.app_password, "devops_service") as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO devops_check_log (begin_check_date, end_check_date, log) VALUES (NOW(), NOW(), %s)",
            ('[{"content":"first","result":"success"}]',),
        )
        cur.execute(
            "INSERT INTO devops_check_log (begin_check_date, end_check_date, log) VALUES (NOW(), NOW(), %s)",
            ('[{"content":"second","result":"success"}]',),
        )
    row = admin.latest_devops_check_log()
    assert set(row) == {"id", "begin_check_date", "end_check_date", "log"}
    assert "second" in row["log"]
    with pytest.raises(ValueError):
        admin.latest_devops_check_log(database="devops_service; DROP")


def test_errors_name_host_port_user_not_password(server):
    secret = "S3cr3t-" + secrets.token_hex(4)
    bad = Mysql(server.host, server.port, "root", secret)
    with pytest.raises(MysqlError) as ei:
        bad.database_exists("devops_service")
    msg = str(ei.value)
    assert f"root@{server.host}:{server.port}" in msg and secret not in msg and ei.value.code == 1045
    assert secret not in repr(bad)


def test_error_when_server_refuses(server):
    proxy = TcpProxy("127.0.0.1", server.host, server.port).start()
    try:
        proxy.refuse(True)
        m = Mysql("127.0.0.1", proxy.port, "root", server.root_password, connect_timeout=2)
        with pytest.raises(MysqlError) as ei:
            m.database_exists("devops_service")
        assert ei.value.code == 2003 and f"127.0.0.1:{proxy.port}" in str(ei.value)
        with pytest.raises(MysqlError):
            ensure_app_database(m, "notify_service", "choerodon", "pw")
        result = user_can_login("127.0.0.1", proxy.port, "choerodon", server.app_password, "devops_service",
                                connect_timeout=2)
        assert not result and "2003" in result
    finally:
        proxy.stop()


@pytest.mark.parametrize("password", ["pässwörd-latin1-ÿ", "密码-CJK-パスワード", "  spaces '\"\\`$;#  "])
def test_a_password_of_any_unicode_text_logs_in(server, admin, password):
    """PyMySQL sends a str password as latin-1: 'é' gave Access denied, CJK a UnicodeEncodeError."""
    user = "u" + secrets.token_hex(4)
    admin.query(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
    try:
        assert user_can_login(server.host, server.port, user, password) is True
        refused = user_can_login(server.host, server.port, user, password + "x")
        assert not refused and "Access denied" in refused
    finally:
        admin.query(f"DROP USER '{user}'@'%'")


# ---- the backup before the first write -------------------------------------------------------------
def test_the_databases_a_release_names():
    from c7n_upgrade.operations import databases_named

    values = {"env": {"open": {"SPRING_DATASOURCE_URL": "jdbc:mysql://db:3306/iam_service?useSSL=false"}},
              "preJob": {"preInitDB": {"mysql": {"database": "iam_service"}},
                         "preConfig": {"mysql": {"database": "manager_service"}}}}
    assert databases_named(values) == {"iam_service", "manager_service"}
    assert databases_named({"env": {"open": {}}}) == set() and databases_named({}) == set()


def test_a_dump_with_a_hostile_password_restores_and_is_checked(server, admin, tmp_path):
    """mariadb-dump logs in through a 0600 option file, whatever the password holds; the dump restores
    into a scratch database (dropped after) holding every table it declares."""
    from c7n_upgrade.mysqldump import DumpTool
    from c7n_upgrade.operations.backup import dump_and_prove

    password = "@Choerodon'2019 \"q\" `id` $HOME \\ 50% ;# é 密码 "
    admin.query("CREATE USER 'dumper'@'%%' IDENTIFIED BY %s", (password,))
    admin.query("GRANT ALL PRIVILEGES ON *.* TO 'dumper'@'%'")
    try:
        tool = DumpTool(server.host, server.port, "dumper", password, environ={"PATH": os.environ["PATH"]})
        before = set(r["Database"] for r in admin.query("SHOW DATABASES"))
        done = dump_and_prove(admin, tool, "manager_service", tmp_path)
        assert done.file == tmp_path / "manager_service.sql" and (done.file.stat().st_mode & 0o777) == 0o600
        assert done.tables and set(done.tables) == {r["TABLE_NAME"] for r in admin.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'manager_service'")}
        import hashlib
        assert done.sha256 == hashlib.sha256(done.file.read_bytes()).hexdigest()
        assert set(r["Database"] for r in admin.query("SHOW DATABASES")) == before  # the scratch database is gone
        assert password not in done.file.read_text(errors="replace")
    finally:
        admin.query("DROP USER 'dumper'@'%'")


def test_a_dump_that_does_not_restore_fails_naming_it(server, admin, tmp_path, monkeypatch):
    from c7n_upgrade.mysqldump import DumpError, DumpTool
    from c7n_upgrade.operations.backup import dump_and_prove

    tool = DumpTool(server.host, server.port, "root", server.root_password, environ={"PATH": os.environ["PATH"]})
    monkeypatch.setattr(tool, "dump", lambda db, path: path.write_text("CREATE TABLE `t` (broken;\n"))
    with pytest.raises(DumpError, match=r"restoring manager_service.sql into c7n_restore_check_\w+: mariadb exited 1"):
        dump_and_prove(admin, tool, "manager_service", tmp_path)
    assert not [r for r in admin.query("SHOW DATABASES") if r["Database"].startswith("c7n_restore_check_")]


def test_without_the_client_tools_the_backup_says_what_to_install():
    from c7n_upgrade.mysqldump import DumpTool

    tool = DumpTool("db", 3306, "root", "pw", environ={"PATH": "/nonexistent"})
    assert "mariadb-dump/mysqldump and mariadb/mysql not found on PATH" in tool.missing()
    assert "backup.skip_reason" in tool.missing() and "pw" not in repr(tool)


def _creates(admin) -> int:
    return int(admin.query("SHOW GLOBAL STATUS LIKE 'Com_create_db'")[0]["Value"])


def test_by_default_the_restore_check_creates_no_database_on_the_dumped_server(server, admin, tmp_path):
    """The dump is proven on a throwaway MariaDB started here: the production server only sees the dump."""
    from c7n_upgrade.mysqldump import DumpTool
    from c7n_upgrade.operations.backup import databases_size, dump_and_prove, server_free_bytes
    from fixtures.mariadb import throwaway_restore_target

    tool = DumpTool(server.host, server.port, "root", server.root_password, environ={"PATH": os.environ["PATH"]})
    before = _creates(admin)
    with throwaway_restore_target(tool, sql_timeout=60) as target:
        assert target.where.startswith("a throwaway MariaDB on this machine") and not target.production
        assert target.admin.port != server.port
        done = dump_and_prove(admin, tool, "manager_service", tmp_path, target)
        scratch_dir = Path(str(target.admin.query("SELECT @@datadir AS d")[0]["d"])).parent
    assert done.tables and set(done.tables) == {r["TABLE_NAME"] for r in admin.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'manager_service'")}
    assert _creates(admin) == before, "the restore check created a database on the dumped server"
    assert not scratch_dir.exists(), "the throwaway server's directory is left behind"
    # on the server (backup.restore_check: server) it does create one, and says how much room it needs
    again = tmp_path / "again"
    again.mkdir()
    dump_and_prove(admin, tool, "manager_service", again)
    assert _creates(admin) == before + 1
    free = server_free_bytes(admin)
    assert databases_size(admin) > 0 and (free is None or free > 0)
