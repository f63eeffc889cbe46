"""Dumping a MySQL database with the client tools (mariadb-dump/mysqldump) and restoring a dump
(mariadb/mysql), bounded in time, the password in a 0600 option file (never on a command line or in
the child's environment).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Optional

from .errors import C7nError

DUMP_TOOLS = ("mariadb-dump", "mysqldump")
CLIENT_TOOLS = ("mariadb", "mysql")
# one consistent snapshot of InnoDB tables, with routines and triggers, binary data as hex
DUMP_FLAGS = ("--single-transaction", "--routines", "--triggers", "--hex-blob", "--no-tablespaces",
              "--default-character-set=utf8mb4")


class DumpError(C7nError):
    """A dump or a restore failed; the message names the database and the tool's own words."""


def _option_value(text: str) -> str:
    """`text` as a double-quoted option-file value (the escapes the client library reads back)."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def find_tools(path: Optional[str] = None) -> tuple[Optional[str], Optional[str]]:
    """(dump tool, client tool) found on PATH, MariaDB's names first; None where there is none."""
    dump = next((found for name in DUMP_TOOLS if (found := shutil.which(name, path=path))), None)
    client = next((found for name in CLIENT_TOOLS if (found := shutil.which(name, path=path))), None)
    return dump, client


class DumpTool:
    """The MySQL client tools of this machine, logging in as one account."""

    def __init__(self, host: str, port: int, user: str, password: str, *, environ: Mapping[str, str],
                 timeout: float = 1800.0):
        self.host, self.port, self.user = host, int(port), user
        self._password = password
        self.environ = dict(environ)
        self.timeout = timeout
        self.dump_tool, self.client_tool = find_tools(self.environ.get("PATH"))

    def __repr__(self) -> str:  # never the password
        return f"DumpTool({self.user}@{self.host}:{self.port}, {self.dump_tool}, {self.client_tool})"

    def missing(self) -> str:
        """Why this machine cannot take and check a dump ("" when it can)."""
        lacking = [what for what, tool in (("/".join(DUMP_TOOLS), self.dump_tool),
                                           ("/".join(CLIENT_TOOLS), self.client_tool)) if tool is None]
        if not lacking:
            return ""
        return (f"{' and '.join(lacking)} not found on PATH: install the MySQL or MariaDB client tools "
                "(e.g. apt-get install mariadb-client), or take your own backup and set backup.skip_reason "
                "in the env file")

    @contextmanager
    def _options(self) -> Iterator[str]:
        """A 0600 option file with the login, in a 0700 directory removed afterwards."""
        directory = tempfile.mkdtemp(prefix="c7n-mysql-")
        path = Path(directory) / "client.cnf"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f"[client]\nhost={self.host}\nport={self.port}\nprotocol=TCP\n"
                         f"user={_option_value(self.user)}\npassword={_option_value(self._password)}\n")
            yield str(path)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _run(self, argv: list[str], what: str, *, stdin=None, stdout=None) -> None:
        try:
            proc = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  stdout=stdout if stdout is not None else subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=self.environ, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise DumpError(f"{what}: {Path(argv[0]).name} did not finish within {self.timeout:.0f}s") from None
        except OSError as exc:
            raise DumpError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
        if proc.returncode != 0:
            said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DumpError(f"{what}: {Path(argv[0]).name} exited {proc.returncode}: {said[-1] if said else ''}")

    def dump(self, database: str, path: Path) -> None:
        """Write `database` (tables, data, routines, triggers; no CREATE DATABASE) to a new 0600 file."""
        if self.dump_tool is None:
            raise DumpError(self.missing())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, self._options() as options:
                self._run([self.dump_tool, f"--defaults-extra-file={options}", *DUMP_FLAGS, database],
                          f"dumping {database}", stdout=out)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def restore(self, path: Path, database: str) -> None:
        """Load the dump at `path` into `database` (which must exist)."""
        if self.client_tool is None:
            raise DumpError(self.missing())
        with open(path, "rb") as dump, self._options() as options:
            self._run([self.client_tool, f"--defaults-extra-file={options}", "--default-character-set=utf8mb4",
                       database], f"restoring {path.name} into {database}", stdin=dump)
