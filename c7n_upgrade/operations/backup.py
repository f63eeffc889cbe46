"""The backup before the first write: every Choerodon database the upgrade can change (the plan's,
and those the services' values name: the 0.9 services migrate them on start) is dumped to a 0600
file per database in the run's directory, with its SHA-256, and each dump is proven to restore into
a scratch database (every table it declares is there) that is dropped afterwards. Where the scratch
database lives is a `RestoreTarget`: by default a throwaway MariaDB on this machine (the proof
needs disk here and none on the production server), or the dumped server itself (env:
`backup.restore_check: server`)."""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from .. import mysql
from ..mysqldump import DumpError, DumpTool
from ..report import StepLog

_JDBC = re.compile(r"jdbc:mysql://[^/]+/([^?;/]+)")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_$-]{0,63}")  # never read as an option, quoted with backticks
_CREATE_TABLE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)`", re.M)


@dataclass
class RestoreTarget:
    """Where dumps are proven to restore: `admin` and `tool` log in there; `production` says it is the
    server the dumps come from (its scratch databases are writes: the lock is asked first)."""
    admin: mysql.Mysql
    tool: DumpTool
    where: str
    production: bool = False


@dataclass
class DumpedDatabase:
    name: str
    file: Path
    sha256: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows, as restored into the scratch database


def databases_named(values: Mapping) -> set[str]:
    """The databases a release's values point the service at: its datasource URL, its init Jobs'."""
    found = set()
    env_open = ((values.get("env") or {}).get("open") or {}) if isinstance(values, Mapping) else {}
    url = env_open.get("SPRING_DATASOURCE_URL")
    if isinstance(url, str) and (m := _JDBC.match(url)):
        found.add(m.group(1))
    pre_job = values.get("preJob") if isinstance(values, Mapping) else None
    for section in ("preInitDB", "preConfig"):
        db = (((pre_job or {}).get(section) or {}).get("mysql") or {}).get("database") if isinstance(pre_job, Mapping) else None
        if isinstance(db, str) and db and "{" not in db:
            found.add(db)
    return found


def plan_backup(admin: mysql.Mysql, named: Iterable[str], planned: Iterable[str]) -> tuple[list[str], list[str]]:
    """(databases to dump, problems): every named or planned database that exists; a database the
    services' values name that this MySQL does not have is a problem (it lives elsewhere: not backed up)."""
    named, planned = set(named), set(planned)
    odd = sorted(n for n in named | planned if not _SAFE_NAME.fullmatch(n))
    problems = [f"database name {n!r} (in the services' values) is not one the suite dumps safely" for n in odd]
    named, planned = named - set(odd), planned - set(odd)
    existing = {n for n in named | planned if admin.database_exists(n)}
    problems += [f"database {n} (named in the services' values) is not on the env's MySQL {admin.host}:{admin.port}"
                 for n in sorted(named - existing)]
    return sorted(existing), problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _declared_tables(path: Path) -> set[str]:
    with open(path, "rb") as fh:
        return {m.group(1).decode("utf-8").replace("``", "`") for m in _CREATE_TABLE.finditer(fh.read())}


def _tables(admin: mysql.Mysql, database: str) -> dict[str, int]:
    rows = admin.query("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                       "AND TABLE_TYPE = 'BASE TABLE'", (database,))
    return {r["t"]: int(admin.query(f"SELECT COUNT(*) AS n FROM {_quoted(database)}.{_quoted(r['t'])}")[0]["n"])
            for r in rows}


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def dump_and_prove(admin: mysql.Mysql, tool: DumpTool, database: str, directory: Path,
                   target: RestoreTarget | None = None) -> DumpedDatabase:
    """Dump `database` to DIRECTORY/<database>.sql (0600) and restore it into a scratch database of
    `target` (default: the dumped server) that must then hold every table the dump declares; the
    scratch database is dropped whatever happens."""
    target = target or RestoreTarget(admin, tool, "the dumped server", production=True)
    path = directory / f"{database}.sql"
    tool.dump(database, path)
    declared = _declared_tables(path)
    scratch = f"c7n_restore_check_{secrets.token_hex(4)}"
    if target.production and target.admin.before_write is not None:
        target.admin.before_write(f"the restore check of {database}")
    target.admin.query(f"CREATE DATABASE `{scratch}` DEFAULT CHARACTER SET utf8mb4")
    try:
        target.tool.restore(path, scratch)
        restored = _tables(target.admin, scratch)
    finally:
        target.admin.query(f"DROP DATABASE IF EXISTS `{scratch}`")
    if set(restored) != declared:
        raise DumpError(f"the dump of {database} restored {sorted(restored)}, it declares {sorted(declared)}")
    return DumpedDatabase(database, path, _sha256(path), restored)


def back_up(admin: mysql.Mysql, tool: DumpTool, databases: list[str], directory: Path, log: StepLog,
            target: RestoreTarget | None = None) -> list[DumpedDatabase]:
    """Dump and prove each database (restored into `target`, default the dumped server) into `directory`
    (made 0700), write SHA256SUMS; fail the step on any problem, naming the database."""
    where = target.where if target is not None else "the dumped server"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    done: list[DumpedDatabase] = []
    with log.step("backup", databases=", ".join(databases)):
        with log.failing_on(DumpError, mysql.MysqlError, what="database backup"):
            for database in databases:
                done.append(dump_and_prove(admin, tool, database, directory, target))
                log.progress(f"backup: {database} dumped and restored into {where} ({len(done[-1].tables)} tables)")
        sums = "".join(f"{d.sha256}  {d.file.name}\n" for d in done)
        (directory / "SHA256SUMS").write_text(sums, encoding="utf-8")
        log.attach("database backup", f"directory: {directory}\n\n" + "\n".join(
            f"{d.file.name}  sha256 {d.sha256}  {d.file.stat().st_size} bytes; restored into a scratch database "
            f"of {where}: "
            + ", ".join(f"{t} ({n} rows)" for t, n in sorted(d.tables.items())) for d in done))
        log.note(f"database backup: {len(done)} database(s) dumped to {directory} (restore: docs/real-cluster.md)")
    return done


def databases_size(admin: mysql.Mysql) -> int:
    """Bytes of data and indexes of every database but MySQL's own (what a restore check writes, at most)."""
    rows = admin.query("SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS n FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')")
    return int(rows[0]["n"] or 0)


def server_free_bytes(admin: mysql.Mysql) -> int | None:
    """Free bytes on the disk of the server's data directory, where the server says (MariaDB's DISKS
    plugin: the longest mount point holding the data directory), else None."""
    try:
        datadir = str(admin.query("SELECT @@datadir AS d")[0]["d"])
        disks = admin.query("SELECT Path, Available FROM information_schema.DISKS")
    except mysql.MysqlError:
        return None
    holding = [d for d in disks if datadir.startswith(str(d["Path"]).rstrip("/") + "/")]
    if not holding:
        return None
    return int(max(holding, key=lambda d: len(str(d["Path"])))["Available"]) * 1024
