"""A throwaway MariaDB server on a free loopback port: binaries, start, root user, stop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from c7n_upgrade.errors import C7nError
from c7n_upgrade.helm.runner import die_with_parent


MISSING_MESSAGE = (
    "MariaDB server binaries not found (mariadbd, mariadb-install-db). "
    "Install them: apt-get install -y mariadb-server"
)


_FALLBACK_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


class MariaDBMissing(C7nError, RuntimeError):
    """The MariaDB server binaries are not installed."""

    def __init__(self, message: str = MISSING_MESSAGE):
        super().__init__(message + " (or run scripts/ensure-mariadb.sh as root)")


class MariaDBError(C7nError, RuntimeError):
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


def ensure_binaries() -> tuple[str, str]:
    """Like :func:`find_binaries`, installing them first when missing (`install.ensure_mariadb`)."""
    from .install import ensure_mariadb

    try:
        ensure_mariadb(print)
    except RuntimeError as exc:
        raise MariaDBMissing(str(exc)) from None
    return find_binaries()


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the usual bind-to-0 trick; racy but fine here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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
            try:
                res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     timeout=self.start_timeout * 4)
            except subprocess.TimeoutExpired:
                raise MariaDBError(f"mariadb-install-db did not finish within {self.start_timeout * 4:.0f}s") from None
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
                preexec_fn=die_with_parent(),  # prctl resolved before the fork
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
            kw["password"] = password.encode("utf-8")  # PyMySQL would send a str as latin-1
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
            password=password.encode("utf-8"),
            database=database,
            connect_timeout=5,
            autocommit=True,
            charset="utf8mb4",
        )
