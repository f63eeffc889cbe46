"""The sandbox's throwaway MariaDB server, its 0.8 state, and the db-down proxy."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pymysql
import pytest

from c7n_sandbox.mariadb import (
    DATABASES_08,
    MISSING_MESSAGE,
    MariaDB,
    MariaDBMissing,
    TcpProxy,
    ensure_binaries,
    find_binaries,
    seed_08_state,
)

ROOT = Path(__file__).resolve().parents[2]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _port_refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _binaries_or_fail():
    try:
        return ensure_binaries()
    except MariaDBMissing as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _binaries_or_fail()
    root_pw = secrets.token_urlsafe(12)
    app_pw = secrets.token_urlsafe(12)
    db = MariaDB(tmp_path_factory.mktemp("mysql"), root_pw)
    t0 = time.monotonic()
    db.start()
    print(f"\nMariaDB started in {time.monotonic() - t0:.2f}s on 127.0.0.1:{db.port}")
    seed_08_state(db, app_password=app_pw)
    db.app_password = app_pw
    pid = db.pid
    yield db
    db.stop()
    assert not _pid_alive(pid), "mariadbd left running"


def test_missing_message_is_exact():
    assert MISSING_MESSAGE == (
        "MariaDB server binaries not found (mariadbd, mariadb-install-db). "
        "Install them: apt-get install -y mariadb-server"
    )
    err = str(MariaDBMissing())
    assert err.startswith(MISSING_MESSAGE) and "scripts/ensure-mariadb.sh" in err


def test_find_binaries_without_path(monkeypatch):
    """Found through the /usr/sbin, /usr/bin fallbacks even with an empty PATH."""
    _binaries_or_fail()
    monkeypatch.setenv("PATH", "")
    mariadbd, install_db = find_binaries()
    assert os.path.basename(mariadbd) in ("mariadbd", "mysqld")
    assert os.access(install_db, os.X_OK)


def test_find_binaries_missing(monkeypatch):
    import c7n_upgrade.throwaway_mariadb.server as m

    monkeypatch.setattr(m, "_which", lambda name: None)
    with pytest.raises(MariaDBMissing, match=r"apt-get install -y mariadb-server"):
        m.find_binaries()


def test_listens_on_loopback_only(server):
    assert server.host == "127.0.0.1"
    with server.connect("root", server.root_password) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@bind_address, @@port, @@skip_name_resolve, @@log_bin")
        bind, port, skip_resolve, log_bin = cur.fetchone()
    assert bind == "127.0.0.1" and port == server.port
    assert skip_resolve == 1 and log_bin == 0


def test_root_tcp_login_with_password(server):
    with server.connect("root", server.root_password) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone()[0] in ("root@127.0.0.1", "root@%")


def test_wrong_password_refused(server):
    with pytest.raises(pymysql.err.OperationalError) as ei:
        server.connect("root", "not-the-password")
    assert ei.value.args[0] == 1045


def test_root_without_password_refused(server):
    with pytest.raises(pymysql.err.OperationalError) as ei:
        server.connect("root", "")
    assert ei.value.args[0] == 1045


def test_no_anonymous_or_passwordless_accounts(server):
    with server.connect("root", server.root_password) as conn, conn.cursor() as cur:
        cur.execute("SELECT User, Host FROM mysql.user WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost','127.0.0.1','%'))")
        assert cur.fetchall() == ()


def test_seed_databases_and_tables(server):
    with server.connect("root", server.root_password) as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        dbs = {r[0] for r in cur.fetchall()}
        assert set(DATABASES_08) <= dbs
        assert {"manager_service", "devops_service", "iam_service", "wiki_service"} <= dbs
        assert "notify_service" not in dbs and "asgard_service" not in dbs
        assert "test" not in dbs
        cur.execute(
            "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='devops_service'"
        )
        assert cur.fetchone()[0] in ("utf8", "utf8mb3")
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA='devops_service' AND TABLE_NAME='devops_check_log' ORDER BY ORDINAL_POSITION"
        )
        assert [r[0] for r in cur.fetchall()] == ["id", "begin_check_date", "end_check_date", "log"]
        cur.execute("SELECT COUNT(*) FROM devops_service.devops_check_log")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT name, secret, organization_id FROM iam_service.oauth_client")
        assert cur.fetchall() == (("client", "secret", 1),)
        cur.execute("SELECT COUNT(*) FROM manager_service.mgmt_service_config")
        assert cur.fetchone()[0] > 0


def test_app_user_logs_in_to_devops_but_not_notify(server):
    with server.connect("choerodon", server.app_password, "devops_service") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO devops_check_log (begin_check_date, log) VALUES (NOW(), '[]')")
        cur.execute("DELETE FROM devops_check_log")
        with pytest.raises(pymysql.err.OperationalError) as ei:
            cur.execute("USE notify_service")
        assert ei.value.args[0] == 1044
    with pytest.raises(pymysql.err.OperationalError) as ei:
        server.connect("choerodon", server.app_password, "notify_service")
    assert ei.value.args[0] == 1044
    with pytest.raises(pymysql.err.OperationalError) as ei:
        server.connect("choerodon", "wrong", "devops_service")
    assert ei.value.args[0] == 1045


def test_proxy_refuse_on_off(server):
    proxy = TcpProxy("127.0.0.1", server.host, server.port).start()
    try:
        assert proxy.port and proxy.port != server.port
        conn = server.connect("choerodon", server.app_password, "devops_service", port=proxy.port)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)

        proxy.refuse(True)
        assert proxy.refusing
        # the open connection is cut
        with pytest.raises(pymysql.err.OperationalError) as ei:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        assert ei.value.args[0] in (2006, 2013)
        # new connections are refused (not left to time out)
        with pytest.raises(pymysql.err.OperationalError) as ei:
            server.connect("choerodon", server.app_password, "devops_service", port=proxy.port)
        assert ei.value.args[0] == 2003 and "Connection refused" in ei.value.args[1], ei.value.args
        # the server itself is still fine
        server.connect("choerodon", server.app_password, "devops_service").close()

        proxy.refuse(False)
        with server.connect("choerodon", server.app_password, "devops_service", port=proxy.port) as c2:
            with c2.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM devops_check_log")
                assert cur.fetchone() == (0,)
    finally:
        proxy.stop()
    assert _port_refuses(proxy.port)
    proxy.stop()  # twice is fine


def test_proxy_refuse_before_start(server):
    proxy = TcpProxy("127.0.0.1", server.host, server.port)
    proxy.refuse(True)
    proxy.start()
    try:
        assert proxy.port == 0 or _port_refuses(proxy.port)
        proxy.refuse(False)
        server.connect("choerodon", server.app_password, port=proxy.port).close()
    finally:
        proxy.stop()


def test_stop_leaves_nothing(tmp_path):
    _binaries_or_fail()
    db = MariaDB(tmp_path / "m", secrets.token_urlsafe(8))
    db.start()
    pid, port = db.pid, db.port
    assert _pid_alive(pid)
    print(f"\nsecond MariaDB started in {db.start_seconds:.2f}s")
    t0 = time.monotonic()
    db.stop()
    print(f"stopped in {time.monotonic() - t0:.2f}s")
    assert not _pid_alive(pid)
    assert _port_refuses(port)
    db.stop()  # safe to call twice
    assert not db.is_running()
    # restart on the same datadir: the password already set still works
    db.start()
    try:
        db.connect("root", db.root_password).close()
    finally:
        db.stop()
    assert not _pid_alive(db.pid)


def test_long_base_dir_uses_short_socket(tmp_path):
    _binaries_or_fail()
    base = tmp_path / ("x" * 60) / ("y" * 60)
    db = MariaDB(base, secrets.token_urlsafe(8))
    assert len(str(db.socket_path)) < 100
    with db:
        db.connect("root", db.root_password).close()
        sock_dir = db.socket_path.parent
    assert not sock_dir.exists() or sock_dir == base
    assert not _pid_alive(db.pid)


def test_dies_with_parent(tmp_path):
    """PR_SET_PDEATHSIG: SIGKILL the Python that started mariadbd, and mariadbd goes too.

    The chain is reaper -> parent -> mariadbd. The reaper is a child subreaper, so the orphaned
    mariadbd is reparented to it and reaped (PID 1 of a container may never reap it)."""
    _binaries_or_fail()
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from c7n_sandbox.mariadb import MariaDB
        db = MariaDB(__import__('pathlib').Path({str(tmp_path / 'orphan')!r}), 'pw-orphan')
        db.start()
        print(db.pid, db.port, flush=True)
        time.sleep(60)
        """
    )
    reaper_code = textwrap.dedent(
        """
        import ctypes, os, subprocess, sys
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        p = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
        print(p.pid, p.stdout.readline().strip(), flush=True)
        while True:
            try:
                os.wait()
            except ChildProcessError:
                break
        """
    )
    reaper = subprocess.Popen(
        [sys.executable, "-c", reaper_code, parent_code], stdout=subprocess.PIPE, text=True
    )
    pid = port = None
    try:
        parent_pid, pid, port = map(int, reaper.stdout.readline().split())
        assert _pid_alive(pid)
        os.kill(parent_pid, 9)
        reaper.wait(20)  # returns once the parent and mariadbd have both exited and been reaped
    finally:
        if reaper.poll() is None:
            reaper.kill()
            reaper.wait()
        if pid and _pid_alive(pid):
            os.kill(pid, 9)
            pytest.fail("mariadbd survived its parent")
    assert not _pid_alive(pid)
    assert _port_refuses(port)
