"""`helm list`, `helm get values`, `helm status` and `helm history`."""
from __future__ import annotations

import re
import time
import urllib.error
from typing import TYPE_CHECKING

from ..errors import HelmCliError
from ..flags import Flag
from ..formats import ansic, go_layout, go_time_string, rfc3339, table, to_json, to_yaml
from ..output import status_block, v2_resources
from ..storage import V2_STATUS_CODES, latest_per_name, v2_status

if TYPE_CHECKING:
    from ..cli import Cli


def cmd_list(cli: Cli, args):
    if cli.dialect == 3:
        flags = [Flag("all", "bool", "a"), Flag("all-namespaces", "bool", "A"), Flag("filter", "str", "f"),
                 Flag("output", "str", "o"), Flag("short", "bool", "q"), Flag("date", "bool", "d"),
                 Flag("reverse", "bool", "r"), Flag("max", "int", "m", 256), Flag("offset", "int", default=0),
                 Flag("no-headers", "bool"), Flag("time-format"), Flag("selector", "str", "l")]
        flags += [Flag(s, "bool") for s in ("deployed", "failed", "pending", "superseded", "uninstalled", "uninstalling")]
    else:
        flags = [Flag("all", "bool", "a"), Flag("output"), Flag("offset", "str", "o"), Flag("short", "bool", "q"),
                 Flag("date", "bool", "d"), Flag("reverse", "bool", "r"), Flag("max", "int", "m", 256),
                 Flag("namespace"), Flag("col-width", "int", "c", 60)]
        flags += [Flag(s, "bool") for s in ("deployed", "failed", "pending", "deleted", "deleting")]
    opts, pos = cli.parse(args, flags)
    fmt = cli.output_format(opts)
    scope = None
    if cli.dialect == 3 and not opts["all-namespaces"]:
        scope = cli.settings.namespace
    if cli.dialect == 2 and opts.get("namespace"):
        scope = opts["namespace"]
    try:
        releases = latest_per_name(cli.storage().all(scope))
    except (urllib.error.URLError, OSError) as exc:
        raise cli.unreachable(exc) from None
    releases = [r for r in releases if r.status in _list_statuses(opts)]
    pattern = opts.get("filter") if cli.dialect == 3 else (pos[0] if pos else None)
    if pattern:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise HelmCliError(f"error parsing regexp: {exc}") from None
        releases = [r for r in releases if regex.search(r.name)]
    releases.sort(key=(lambda r: r.last_deployed) if opts["date"] else (lambda r: r.name))
    if opts["reverse"]:
        releases.reverse()
    if cli.dialect == 3:
        releases = releases[opts["offset"]:]
    elif opts["offset"]:  # v2: -o/--offset is the name of the release to start from
        names = [r.name for r in releases]
        if opts["offset"] not in names:
            raise HelmCliError(f'offset "{opts["offset"]}" not found')
        releases = releases[names.index(opts["offset"]):]
    if opts["max"] > 0:
        releases = releases[: opts["max"]]
    if cli.dialect == 3:
        return _list_v3(cli, releases, opts, fmt)
    return _list_v2(cli, releases, opts, fmt)


def _list_statuses(opts: dict) -> set:
    every = {"deployed", "failed", "superseded", "pending-install", "pending-upgrade", "pending-rollback",
             "uninstalled", "uninstalling", "unknown"}
    if opts["all"]:
        return every
    chosen = set()
    for flag, words in (("deployed", {"deployed"}), ("failed", {"failed"}), ("superseded", {"superseded"}),
                        ("pending", {"pending-install", "pending-upgrade", "pending-rollback"}),
                        ("uninstalled", {"uninstalled"}), ("uninstalling", {"uninstalling"}),
                        ("deleted", {"uninstalled"}), ("deleting", {"uninstalling"})):
        if opts.get(flag):
            chosen |= words
    return chosen or {"deployed", "failed"}


def _list_v3(cli: Cli, releases, opts, fmt):
    if opts["short"]:
        names = [r.name for r in releases]
        cli.out(to_json(names) if fmt == "json" else to_yaml(names) if fmt == "yaml" and names
                else "[]\n" if fmt == "yaml" else "".join(n + "\n" for n in names))
        return 0
    def updated(r):
        return time.strftime(go_layout(opts["time-format"]), time.gmtime(r.last_deployed)) if opts["time-format"] \
            else go_time_string(r.last_deployed)
    rows = [{"name": r.name, "namespace": r.namespace, "revision": str(r.version), "updated": updated(r),
             "status": r.status, "chart": r.chart_ref, "app_version": r.app_version} for r in releases]
    if fmt == "json":
        cli.out(to_json(rows))
    elif fmt == "yaml":
        cli.out(to_yaml(rows) if rows else "[]\n")
    else:
        header = [] if opts["no-headers"] else [["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]]
        body = [list(row.values()) for row in rows]
        if header or body:
            cli.out(table(header + body))
    return 0


def _list_v2(cli: Cli, releases, opts, fmt):
    if not releases:
        return 0  # v2 prints nothing at all when nothing matches
    if opts["short"]:
        cli.out("".join(r.name + "\n" for r in releases))
        return 0
    items = [{"Name": r.name, "Revision": r.version, "Updated": ansic(r.last_deployed),
              "Status": v2_status(r.status), "Chart": r.chart_ref,
              "AppVersion": r.app_version, "Namespace": r.namespace} for r in releases]
    if fmt == "json":
        cli.out(to_json({"Next": "", "Releases": items}))
    elif fmt == "yaml":
        cli.out(to_yaml({"Next": "", "Releases": items}))
    else:
        rows = [["NAME", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "NAMESPACE"]]
        rows += [[i["Name"], str(i["Revision"]), i["Updated"], i["Status"], i["Chart"], i["AppVersion"], i["Namespace"]]
                 for i in items]
        cli.out(table(rows, opts["col-width"]))
    return 0


def cmd_get(cli: Cli, args):
    if not args or args[0] != "values":
        raise HelmCliError(f'sandbox helm supports only "helm get values" (got {" ".join(args[:1]) or "nothing"})')
    flags = [Flag("all", "bool", "a"), Flag("revision", "int", default=0)]
    flags.append(Flag("output", "str", "o") if cli.dialect == 3 else Flag("output", default="yaml"))
    opts, pos = cli.parse(args[1:], flags)
    cli.need_args(pos, 1, "get values", "get values RELEASE_NAME", "release name is required")
    fmt = cli.output_format(opts)
    rel = cli.pick_revision(pos[0], opts["revision"])
    values = rel.computed_values() if opts["all"] else rel.config
    if cli.dialect == 3:
        if fmt == "json":
            cli.out(to_json(values or None))
        elif fmt == "yaml":
            cli.out(to_yaml(values) if values else "null\n")
        else:
            cli.out(("COMPUTED VALUES:\n" if opts["all"] else "USER-SUPPLIED VALUES:\n")
                    + (to_yaml(values) if values else "null\n"))
    else:
        cli.out(to_json(values or {}) if fmt == "json" else to_yaml(values or {}))
    return 0


def cmd_status(cli: Cli, args):
    opts, pos = cli.parse(args, [Flag("output", "str", "o"), Flag("revision", "int", default=0),
                                  Flag("show-desc", "bool"), Flag("show-resources", "bool")])
    cli.need_args(pos, 1, "status", "status RELEASE_NAME", "release name is required")
    fmt = cli.output_format(opts)
    rel = cli.pick_revision(pos[0], opts["revision"])
    if cli.dialect == 3:
        if fmt == "json":
            cli.out(to_json(rel.to_v3()))
        elif fmt == "yaml":
            cli.out(to_yaml(rel.to_v3()))
        else:
            block = status_block(rel, 3)
            if opts["show-desc"]:
                block = block.replace("TEST SUITE:", f"DESCRIPTION: {rel.description}\nTEST SUITE:", 1)
            cli.out(block)
        return 0
    status = {"code": V2_STATUS_CODES.get(rel.status, 0)}
    resources = v2_resources(rel)
    if resources:
        status["resources"] = resources
    if rel.notes:
        status["notes"] = rel.notes
    data = {"name": rel.name, "info": {"status": status, "first_deployed": {"seconds": int(rel.first_deployed)},
                                       "last_deployed": {"seconds": int(rel.last_deployed)},
                                       "Description": rel.description}, "namespace": rel.namespace}
    if fmt == "json":
        cli.out(to_json(data))
    elif fmt == "yaml":
        cli.out(to_yaml(data))
    else:
        cli.out(status_block(rel, 2))
    return 0


def cmd_history(cli: Cli, args):
    opts, pos = cli.parse(args, [Flag("output", "str", "o"), Flag("max", "int", default=256),
                                  Flag("col-width", "int", "c", 60)])
    cli.need_args(pos, 1, "history", "history RELEASE_NAME", "release name is required")
    fmt = cli.output_format(opts)
    history = cli.history_of(pos[0])
    if not history:
        raise cli.not_found(pos[0])
    history = history[-opts["max"]:] if opts["max"] > 0 else history
    if cli.dialect == 3:
        items = [{"revision": r.version, "updated": rfc3339(r.last_deployed), "status": r.status,
                  "chart": r.chart_ref, "app_version": r.app_version, "description": r.description} for r in history]
        status_of = (lambda r: r.status)
        when = (lambda r: ansic(r.last_deployed))
    else:
        items = [{"revision": r.version, "updated": ansic(r.last_deployed),
                  "status": v2_status(r.status), "chart": r.chart_ref,
                  "appVersion": r.app_version, "description": r.description} for r in history]
        status_of = (lambda r: v2_status(r.status))
        when = (lambda r: ansic(r.last_deployed))
    if fmt == "json":
        cli.out(to_json(items))
    elif fmt == "yaml":
        cli.out(to_yaml(items))
    else:
        rows = [["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"]]
        rows += [[str(r.version), when(r), status_of(r), r.chart_ref, r.app_version, r.description] for r in history]
        cli.out(table(rows, 60 if cli.dialect == 3 else opts["col-width"]))
    return 0
