"""A throwaway MariaDB server for the sandbox, the Choerodon 0.8 database state, and a TCP proxy.

The server is initialised with ``mariadb-install-db`` and started as ``mariadbd`` on a free
loopback port (the approach of pytest-mysql). It listens on 127.0.0.1 only, runs with
``--skip-name-resolve`` (so the anonymous users cannot shadow ``choerodon@'%'``; they are dropped
anyway), and dies with its parent process on Linux (``PR_SET_PDEATHSIG`` = SIGTERM, best effort).
Caveat: Linux sends that signal when the *thread* that started the server exits, so call
``start()`` from the main thread or from a thread that lives as long as the server.

``base_dir`` belongs entirely to the server: ``base_dir/data`` (datadir), ``base_dir/mysqld.sock``
(or a short temp dir when that path would be too long for a unix socket), ``base_dir/mysqld.pid``,
``base_dir/error.log``. The sandbox passes ``D/mysql``.

``TcpProxy`` forwards a loopback port to the server. The sandbox gives clients the proxy's address
so the ``db-down`` fault can make MySQL refuse connections (``proxy.refuse(True)``).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pymysql

from .tcp import close_hard, splice

__all__ = [
    "MariaDB",
    "MariaDBError",
    "MariaDBMissing",
    "TcpProxy",
    "ensure_binaries",
    "find_binaries",
    "free_port",
    "seed_08_state",
    "DATABASES_08",
]

MISSING_MESSAGE = (
    "MariaDB server binaries not found (mariadbd, mariadb-install-db). "
    "Install them: apt-get install -y mariadb-server"
)

_FALLBACK_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


class MariaDBMissing(RuntimeError):
    """The MariaDB server binaries are not installed."""

    def __init__(self, message: str = MISSING_MESSAGE):
        super().__init__(message + " (or run scripts/ensure-mariadb.sh as root)")


class MariaDBError(RuntimeError):
    """The server could not be initialised, started or configured."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in _FALLBACK_DIRS:
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_binaries() -> tuple[str, str]:
    """Return ``(mariadbd, mariadb-install-db)`` paths; raise :class:`MariaDBMissing`."""
    mariadbd = _which("mariadbd") or _which("mysqld")
    install_db = _which("mariadb-install-db") or _which("mysql_install_db")
    if not mariadbd or not install_db:
        raise MariaDBMissing()
    return mariadbd, install_db


def ensure_binaries(install: bool = True) -> tuple[str, str]:
    """Like :func:`find_binaries`, but when they are missing and we are root, run
    ``scripts/ensure-mariadb.sh`` (apt-get install mariadb-server) first."""
    try:
        return find_binaries()
    except MariaDBMissing:
        script = Path(__file__).resolve().parents[2] / "scripts" / "ensure-mariadb.sh"
        if not (install and hasattr(os, "geteuid") and os.geteuid() == 0 and script.is_file()):
            raise
        subprocess.run(["sh", str(script)], check=False)
        return find_binaries()


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the usual bind-to-0 trick; racy but fine here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """preexec_fn: ask Linux to SIGTERM the child when the parent (thread) dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no error log)"
    return "\n".join(text.splitlines()[-lines:])


class MariaDB:
    """A throwaway MariaDB server on 127.0.0.1:<free port>.

    ``root_password`` is set for ``root@localhost``, ``root@'127.0.0.1'`` and ``root@'%'`` so TCP
    logins with the password work (host matching is by IP under ``--skip-name-resolve``).
    """

    host = "127.0.0.1"

    def __init__(self, base_dir: Path, root_password: str, *, start_timeout: float = 30.0):
        self.base_dir = Path(base_dir)
        self.root_password = root_password
        self.start_timeout = start_timeout
        self.datadir = self.base_dir / "data"
        self.error_log = self.base_dir / "error.log"
        self.pid_file = self.base_dir / "mysqld.pid"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self._sock_tmpdir: str | None = None
        self.socket_path: Path = self._choose_socket_path()

    # ------------------------------------------------------------------ paths
    def _choose_socket_path(self) -> Path:
        candidate = self.base_dir / "mysqld.sock"
        if len(str(candidate.absolute())) <= _SOCKET_PATH_MAX:
            return candidate
        self._sock_tmpdir = tempfile.mkdtemp(prefix="c7nmy")
        return Path(self._sock_tmpdir) / "mysqld.sock"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "MariaDB":
        if self.is_running():
            return self
        t0 = time.monotonic()
        mariadbd, install_db = find_binaries()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not self.socket_path.parent.is_dir():  # the short temp dir was removed by stop()
            self.socket_path = self._choose_socket_path()
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        user_args = ["--user=root"] if as_root else []
        fresh = not (self.datadir / "mysql").is_dir()
        # a private tmpdir: servers sharing /tmp can trip over each other's temporary tables
        # ("Could not remove temporary table '/tmp/#sql-temptable-…'" fails the bootstrap)
        self.tmpdir = self.base_dir / "tmp"
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.datadir.mkdir(parents=True, exist_ok=True)
            cmd = [
                install_db,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--tmpdir={self.tmpdir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                *user_args,
            ]
            res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            (self.base_dir / "install-db.log").write_text(res.stdout)
            if res.returncode != 0:
                raise MariaDBError(
                    f"mariadb-install-db failed (exit {res.returncode}):\n"
                    + "\n".join(res.stdout.splitlines()[-30:])
                )

        last_error = ""
        for _attempt in range(3):  # retry if the free port got taken in between
            self.port = free_port(self.host)
            if self.socket_path.exists():
                self.socket_path.unlink()
            cmd = [
                mariadbd,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--tmpdir={self.tmpdir}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                f"--bind-address={self.host}",
                "--skip-name-resolve",
                "--skip-networking=0",
                f"--pid-file={self.pid_file}",
                f"--log-error={self.error_log}",
                "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=16M",
                "--skip-log-bin",
                "--character-set-server=utf8mb3",
                *user_args,
            ]
            log_start = self.error_log.stat().st_size if self.error_log.exists() else 0
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
                start_new_session=True,
                close_fds=True,
            )
            ok, last_error = self._wait_ready(fresh)
            if ok:
                break
            self._kill()
            log = self.error_log.read_text(errors="replace")[log_start:] if self.error_log.exists() else ""
            if "Address already in use" not in log:
                break
        else:
            ok = False
        if not ok:
            self._kill()
            raise MariaDBError(
                f"mariadbd did not accept connections on {self.host}:{self.port} within "
                f"{self.start_timeout:.0f}s ({last_error}). Tail of {self.error_log}:\n{_tail(self.error_log)}"
            )
        try:
            self._configure_root()
        except Exception:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, fresh: bool) -> tuple[bool, str]:
        deadline = time.monotonic() + self.start_timeout
        last = "not started"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, f"mariadbd exited with {self.proc.returncode}"
            if self.socket_path.exists():
                try:
                    conn = self._socket_connect()
                    conn.close()
                    return True, ""
                except pymysql.err.OperationalError as e:
                    last = str(e)
                    if e.args and e.args[0] == 1045:  # access denied: up, password already set
                        return True, ""
            time.sleep(0.05)
        return False, f"timeout; last error: {last}"

    def _socket_connect(self, password: str | None = None):
        kw = dict(unix_socket=str(self.socket_path), user="root", connect_timeout=2, autocommit=True)
        if password is not None:
            kw["password"] = password
        return pymysql.connect(**kw)

    def admin_connection(self):
        """A root connection over the unix socket (with the root password)."""
        return self._socket_connect(self.root_password)

    def _configure_root(self) -> None:
        try:
            conn = self._socket_connect()  # fresh datadir: root without password
        except pymysql.err.OperationalError as e:
            if not (e.args and e.args[0] == 1045):
                raise
            conn = self._socket_connect(self.root_password)  # reused datadir
        with conn, conn.cursor() as cur:
            # anonymous users (they shadow named users) and passwordless root@<hostname>/::1 go
            cur.execute(
                "SELECT User, Host FROM mysql.user WHERE User = '' "
                "OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '%'))"
            )
            for user, host in cur.fetchall():
                cur.execute("DROP USER %s@%s", (user, host))
            for host in ("localhost", "127.0.0.1", "%"):
                cur.execute("CREATE USER IF NOT EXISTS 'root'@%s IDENTIFIED BY %s", (host, self.root_password))
                cur.execute("ALTER USER 'root'@%s IDENTIFIED BY %s", (host, self.root_password))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@%s WITH GRANT OPTION", (host,))
            cur.execute("FLUSH PRIVILEGES")

    def _kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGTERM, then SIGKILL after ``timeout``). Safe to call twice."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._sock_tmpdir:
            shutil.rmtree(self._sock_tmpdir, ignore_errors=True)
            self._sock_tmpdir = None

    def __enter__(self) -> "MariaDB":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ clients
    def connect(self, user: str, password: str, database: str | None = None, *, port: int | None = None):
        """A PyMySQL connection over TCP to 127.0.0.1 (autocommit)."""
        return pymysql.connect(
            host=self.host,
            port=port or self.port,
            user=user,
            password=password,
            database=database,
            connect_timeout=5,
            autocommit=True,
            charset="utf8mb4",
        )


# ---------------------------------------------------------------------- the 0.8 state

#: The databases of a Choerodon 0.8 installation: the services whose charts have an init-db hook
#: (manager, iam, devops, agile, test-manager, wiki) plus event-store-service's, which 0.9 retires.
#: notify_service and asgard_service do NOT exist in 0.8: steps 5 and 6 create them.
DATABASES_08 = (
    "manager_service",
    "iam_service",
    "event_store_service",
    "devops_service",
    "agile_service",
    "test_manager_service",
    "wiki_service",
)

_AUDIT = (
    "object_version_number BIGINT UNSIGNED DEFAULT 1, created_by BIGINT UNSIGNED DEFAULT 0, "
    "creation_date DATETIME DEFAULT CURRENT_TIMESTAMP, last_updated_by BIGINT UNSIGNED DEFAULT 0, "
    "last_update_date DATETIME DEFAULT CURRENT_TIMESTAMP"
)

_SCHEMA_08: dict[str, list[str]] = {
    "manager_service": [
        f"""CREATE TABLE mgmt_service (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(128) NOT NULL UNIQUE, {_AUDIT})""",
        f"""CREATE TABLE mgmt_service_config (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(128) NOT NULL,
            config_version VARCHAR(64), is_default TINYINT(1) DEFAULT 0, service_id BIGINT UNSIGNED NOT NULL,
            value MEDIUMTEXT, source VARCHAR(32), publish_time DATETIME, {_AUDIT},
            UNIQUE KEY mgmt_service_config_u1 (name, service_id))""",
        f"""CREATE TABLE mgmt_route (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE,
            path VARCHAR(128) NOT NULL, service_id VARCHAR(64) NOT NULL, strip_prefix TINYINT(1) DEFAULT 1, {_AUDIT})""",
        "INSERT INTO mgmt_service (name) VALUES ('api-gateway'), ('iam-service'), ('devops-service'), "
        "('wiki-service'), ('event-store-service')",
        "INSERT INTO mgmt_service_config (name, config_version, is_default, service_id, value, source) "
        "SELECT CONCAT(name, '.default'), '0.8.0', 1, id, '{}', 'init' FROM mgmt_service",
        "INSERT INTO mgmt_route (name, path, service_id, strip_prefix) VALUES "
        "('oauth', '/oauth/**', 'oauth-server', 0), ('iam', '/iam/**', 'iam-service', 1), "
        "('devops', '/devops/**', 'devops-service', 1), ('wiki', '/wiki/**', 'wiki-service', 1)",
    ],
    "iam_service": [
        f"""CREATE TABLE oauth_client (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32) NOT NULL UNIQUE,
            organization_id BIGINT UNSIGNED NOT NULL, resource_ids VARCHAR(1024) DEFAULT 'default',
            secret VARCHAR(255), scope VARCHAR(1024) DEFAULT 'default',
            authorized_grant_types VARCHAR(1024), web_server_redirect_uri VARCHAR(1024),
            access_token_validity BIGINT, refresh_token_validity BIGINT,
            additional_information VARCHAR(1024), auto_approve VARCHAR(1024) DEFAULT 'default', {_AUDIT})""",
        f"""CREATE TABLE fd_organization (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32) NOT NULL,
            code VARCHAR(15) NOT NULL UNIQUE, is_enabled TINYINT(1) DEFAULT 1, {_AUDIT})""",
        f"""CREATE TABLE iam_user (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, login_name VARCHAR(128) NOT NULL UNIQUE,
            email VARCHAR(128), organization_id BIGINT UNSIGNED, is_admin TINYINT(1) DEFAULT 0,
            is_enabled TINYINT(1) DEFAULT 1, {_AUDIT})""",
        "INSERT INTO fd_organization (id, name, code) VALUES (1, 'operation', 'operation')",
        "INSERT INTO iam_user (login_name, email, organization_id, is_admin) "
        "VALUES ('admin', 'admin@example.org', 1, 1)",
        # the seed client the admin token is requested with (client/secret)
        "INSERT INTO oauth_client (name, organization_id, resource_ids, secret, scope, authorized_grant_types, "
        "web_server_redirect_uri, access_token_validity, refresh_token_validity, additional_information, "
        "auto_approve) VALUES ('client', 1, 'default', 'secret', 'default', "
        "'password,implicit,client_credentials,authorization_code,refresh_token', NULL, 3600, 3600, '{}', 'default')",
    ],
    "event_store_service": [
        f"""CREATE TABLE event_producer_record (
            uuid VARCHAR(50) PRIMARY KEY, type VARCHAR(50), payload MEDIUMTEXT, {_AUDIT})""",
    ],
    "devops_service": [
        """CREATE TABLE devops_check_log (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, begin_check_date DATETIME,
            end_check_date DATETIME, log MEDIUMTEXT)""",
        f"""CREATE TABLE devops_env (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, project_id BIGINT UNSIGNED, name VARCHAR(32),
            code VARCHAR(64), namespace VARCHAR(64), is_active TINYINT(1) DEFAULT 1, {_AUDIT})""",
        f"""CREATE TABLE devops_application (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, project_id BIGINT UNSIGNED, name VARCHAR(64),
            code VARCHAR(64), gitlab_project_id BIGINT, is_active TINYINT(1) DEFAULT 1, {_AUDIT})""",
        "INSERT INTO devops_env (project_id, name, code, namespace) VALUES (1, 'dev', 'dev', 'c7n-dev')",
        "INSERT INTO devops_application (project_id, name, code, gitlab_project_id) "
        "VALUES (1, 'demo-service', 'demo-service', 1)",
    ],
    "agile_service": [
        f"""CREATE TABLE agile_issue (
            issue_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, issue_num VARCHAR(255), type_code VARCHAR(255),
            summary VARCHAR(255), status_id BIGINT UNSIGNED, project_id BIGINT UNSIGNED, {_AUDIT})""",
        "INSERT INTO agile_issue (issue_num, type_code, summary, status_id, project_id) "
        "VALUES ('1', 'story', 'upgrade to 0.9', 1, 1)",
    ],
    "test_manager_service": [
        f"""CREATE TABLE test_cycle (
            cycle_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, parent_cycle_id BIGINT UNSIGNED,
            cycle_name VARCHAR(64), version_id BIGINT UNSIGNED, type VARCHAR(32), {_AUDIT})""",
    ],
    "wiki_service": [
        f"""CREATE TABLE wiki_space (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, resource_id BIGINT UNSIGNED,
            resource_type VARCHAR(32), name VARCHAR(128), icon VARCHAR(64), path VARCHAR(255),
            status VARCHAR(32), {_AUDIT})""",
        "INSERT INTO wiki_space (resource_id, resource_type, name, icon, path, status) "
        "VALUES (1, 'organization', 'operation', 'domain', 'O-operation', 'success')",
    ],
}


def seed_08_state(db: MariaDB, *, app_user: str = "choerodon", app_password: str) -> list[str]:
    """Create the Choerodon 0.8 database state; return the database names.

    Idempotent only on a fresh server (it drops and re-creates the 0.8 databases).
    """
    with db.admin_connection() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (app_user, app_password))
        for name in DATABASES_08:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` DEFAULT CHARACTER SET utf8")
            cur.execute(f"USE `{name}`")
            for stmt in _SCHEMA_08[name]:
                cur.execute(stmt + (" DEFAULT CHARSET=utf8" if stmt.lstrip().startswith("CREATE TABLE") else ""))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", (app_user,))
        cur.execute("FLUSH PRIVILEGES")
    return list(DATABASES_08)


# ---------------------------------------------------------------------- TCP proxy


class TcpProxy:
    """A threaded TCP forwarder ``listen_host:<port> -> target_host:target_port``.

    ``refuse(True)`` closes the listening socket (new connections get ECONNREFUSED, which PyMySQL
    reports at once as error 2003 "Can't connect to MySQL server") and cuts every open connection.
    ``refuse(False)`` listens again on the same port.
    """

    def __init__(self, listen_host: str, target_host: str, target_port: int, listen_port: int = 0):
        self.listen_host = listen_host
        self.target_host = target_host
        self.target_port = target_port
        self.port = listen_port
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._refusing = False
        self._stopped = True

    @property
    def refusing(self) -> bool:
        return self._refusing

    @property
    def address(self) -> tuple[str, int]:
        return self.listen_host, self.port

    def start(self) -> "TcpProxy":
        with self._lock:
            self._stopped = False
            if not self._refusing:
                self._listen()
        return self

    def _listen(self) -> None:
        if self._listener is not None:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.listen_host, self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._listener = s
        t = threading.Thread(target=self._accept_loop, args=(s,), name=f"tcpproxy-{self.port}", daemon=True)
        self._accept_thread = t
        t.start()

    def _close_listener(self) -> None:
        s, self._listener = self._listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
            except OSError:
                pass
            s.close()
        t, self._accept_thread = self._accept_thread, None
        if t is not None and t is not threading.current_thread():
            t.join(2)

    def _cut_all(self) -> None:
        conns, self._conns = self._conns, set()
        for c in conns:
            close_hard(c)

    def refuse(self, on: bool) -> None:
        with self._lock:
            self._refusing = bool(on)
            if self._stopped:
                return
            if on:
                self._close_listener()
                self._cut_all()
            else:
                self._listen()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._close_listener()
            self._cut_all()

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.target_host, self.target_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            if self._refusing or self._stopped:
                client.close()
                upstream.close()
                return
            self._conns.update((client, upstream))
        splice(client, upstream, self._lock, self._conns)
