"""The upgrade phase begins with a backup: every Choerodon database the upgrade can change is dumped and
each dump proven to restore, before the first write (restoring: docs/real-cluster.md). Not a plan step:
when it fails, nothing has changed and the run stops there."""
import contextlib
from pathlib import Path

import pytest

from c7n_upgrade import i18n, mysql, operations
from c7n_upgrade.parallel import parallel_map
from c7n_upgrade.report import StepFailed
from fixtures import first_backup
from fixtures.context import Cause


@contextlib.contextmanager
def _stops_the_run(ctx):
    try:
        yield
    except (AssertionError, StepFailed, mysql.MysqlError) as exc:
        ctx.gate.stop(Cause("backup", f"the database backup failed: {str(exc).splitlines()[0]}"))
        raise


def test_database_backup(ctx, kube, releases, mysql_admin, dump_tool, settings, step_log):
    """Dump every Choerodon database (the plan's, and those the services' values name) to the run's
    directory, 0600, with its SHA-256, and prove each dump restores."""
    ctx.results.namespace_uid = kube.namespace_uid(settings.namespace) or ""
    first = first_backup.find(ctx.run_dir.parent, ctx.results.namespace_uid, ctx.plan.name)
    if first is not None:  # a later run of the same upgrade: the dump from before anything changed
        ctx.results.kept[i18n.say(ctx.lang, "k_first_backup", run=first["run"], time=first["time"])] = \
            Path(first["directory"])
    if settings.backup.skip_reason:
        pytest.skip(f"not backed up, as the env says (backup.skip_reason): {settings.backup.skip_reason}")
    with _stops_the_run(ctx):
        views = [v for v in (releases.view(s) for s in ctx.plan.steps) if v.exists]
        upgraded = [s.number for s in ctx.plan.steps if releases.view(s).at_target(s.version)]
        named = set().union(*parallel_map(lambda v: operations.databases_named(releases.values(v.name)), views))
        databases, problems = operations.plan_backup(mysql_admin, named,
                                                     [s.database for s in ctx.plan.steps if s.database])
        assert not problems, "; ".join(problems) + " (back it up yourself, then set backup.skip_reason)"
        assert databases, "no Choerodon database found to back up"
        directory = ctx.run_dir / "db-backup"
        if ctx.dry_run:
            pytest.skip(f"dry run: the real run dumps {', '.join(databases)} to {directory} first")
        with _restore_target(settings, mysql_admin, dump_tool, ctx.run_dir) as target:
            operations.back_up(mysql_admin, dump_tool, databases, directory, step_log, target)
    if upgraded:  # resumed: these databases may already be migrated by the steps that ran
        label = i18n.say(ctx.lang, "k_backup_after", n=max(upgraded))
        step_log.note(label)
    elif first is not None:  # an earlier run of this upgrade wrote before (a hook may have migrated)
        label = i18n.say(ctx.lang, "k_backup_again")
    else:
        label = i18n.say(ctx.lang, "k_backup")
        first_backup.record(ctx.run_dir.parent, ctx.results.namespace_uid, ctx.plan.name, ctx.run_dir, directory,
                            databases)
    ctx.results.kept[label] = directory


@contextlib.contextmanager
def _restore_target(settings, mysql_admin, dump_tool, run_dir):
    """Where the dumps are proven to restore: a throwaway MariaDB here (default), or the dumped server."""
    if settings.backup.restore_check == "server":
        yield operations.RestoreTarget(mysql_admin, dump_tool, "the dumped server", production=True)
        return
    from fixtures.mariadb import throwaway_restore_target

    started = throwaway_restore_target(dump_tool, settings.backup.timeout, run_dir)
    try:
        target = started.__enter__()
    except RuntimeError as exc:  # it did not start: nothing was written anywhere
        raise AssertionError(f"the restore check's MariaDB: {exc}") from None
    with contextlib.ExitStack() as stack:  # a RuntimeError of the backup itself stays its own
        stack.push(started)
        yield target
