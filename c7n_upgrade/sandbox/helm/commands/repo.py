"""`helm repo add|update|list|remove` and `helm search`."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from c7n_upgrade.sandbox import charts as chartlib

from ..errors import HelmCliError
from ..flags import Flag
from ..formats import table, to_json, to_yaml
from ..repos import add_repo, fetch_index, index_path, load_repos, repo_index, save_repos, write_index

if TYPE_CHECKING:
    from ..cli import Cli


def cmd_repo(cli: Cli, args):
    sub, rest = (args[0], args[1:]) if args else ("", [])
    if sub == "add":
        opts, pos = cli.parse(rest, [Flag("force-update", "bool"), Flag("username"), Flag("password"),
                                      Flag("no-update", "bool"), Flag("pass-credentials", "bool")])
        if len(pos) != 2:
            raise HelmCliError('"helm repo add" requires 2 arguments\n\nUsage:  helm repo add [NAME] [URL] [flags]'
                               if cli.dialect == 3 else "this command needs 2 arguments: name for the chart repository, the url of the chart repository")
        cli.out(add_repo(cli.settings, pos[0], pos[1], force=opts["force-update"], no_update=opts["no-update"]))
        return 0
    if sub in ("update", "up"):
        _, pos = cli.parse(rest, [Flag("fail-on-repo-update-fail", "bool")])
        repos = load_repos(cli.settings)
        if not repos:
            raise HelmCliError("no repositories found. You must add one before updating")
        cli.out("Hang tight while we grab the latest from your chart repositories...\n")
        for repo in repos:
            if pos and repo["name"] not in pos:
                continue
            try:
                write_index(cli.settings, repo["name"], fetch_index(repo["url"], cli.dialect))
                cli.out(f'...Successfully got an update from the "{repo["name"]}" chart repository\n')
            except HelmCliError as exc:
                cli.out(f'...Unable to get an update from the "{repo["name"]}" chart repository ({repo["url"]}):\n\t{exc}\n')
        cli.out("Update Complete. ⎈Happy Helming!⎈\n" if cli.dialect == 3 else "Update Complete.\n")
        return 0
    if sub in ("list", "ls"):
        opts, _ = cli.parse(rest, [Flag("output", "str", "o")])
        repos = load_repos(cli.settings)
        if not repos:
            raise HelmCliError("no repositories to show")
        fmt = cli.output_format(opts)
        if fmt == "json":
            cli.out(to_json([{"name": r["name"], "url": r["url"]} for r in repos]))
        else:
            cli.out(table([["NAME", "URL"]] + [[r["name"], r["url"]] for r in repos]))
        return 0
    if sub in ("remove", "rm"):
        _, pos = cli.parse(rest, [])
        repos = load_repos(cli.settings)
        for name in pos:
            if not any(r["name"] == name for r in repos):
                raise HelmCliError(f"no repo named \"{name}\" found")
            repos = [r for r in repos if r["name"] != name]
            index_path(cli.settings, name).unlink(missing_ok=True)
            cli.out(f'"{name}" has been removed from your repositories\n')
        save_repos(cli.settings, repos)
        return 0
    raise HelmCliError(f'unknown command "{sub}" for "helm repo"')


def cmd_search(cli: Cli, args):
    if cli.dialect == 3:
        if not args or args[0] != "repo":
            raise HelmCliError('unknown command "%s" for "helm search"' % (args[0] if args else ""))
        args = args[1:]
        flags = [Flag("versions", "bool", "l"), Flag("version"), Flag("output", "str", "o"),
                 Flag("regexp", "bool", "r"), Flag("devel", "bool"), Flag("max-col-width", "int", default=50),
                 Flag("fail-on-no-result", "bool")]
    else:
        flags = [Flag("versions", "bool", "l"), Flag("version", "str", "v"), Flag("output", "str", "o"),
                 Flag("regexp", "bool", "r"), Flag("devel", "bool"), Flag("col-width", "int", default=60)]
    opts, pos = cli.parse(args, flags)
    fmt = cli.output_format(opts)
    keyword = pos[0] if pos else ""
    results = []
    for repo in load_repos(cli.settings):
        try:
            entries = (chartlib.load_yaml(repo_index(cli.settings, repo)) or {}).get("entries") or {}
        except HelmCliError:
            continue
        for chart_name, versions in entries.items():
            ordered = sorted(versions, key=lambda e: chartlib.version_key(str(e["version"])), reverse=True)
            if not opts["devel"] and not opts["version"]:
                ordered = [e for e in ordered if "-" not in str(e["version"])] or ordered
            if opts["version"]:
                ordered = [e for e in ordered if version_matches(str(e["version"]), opts["version"])]
            if not opts["versions"]:
                ordered = ordered[:1]
            for entry in ordered:
                full = f"{repo['name']}/{chart_name}"
                haystack = f"{full} {entry.get('description', '')}"
                if keyword and not (re.search(keyword, haystack, re.I) if opts["regexp"]
                                    else keyword.lower() in haystack.lower()):
                    continue
                results.append((full, str(entry["version"]), str(entry.get("appVersion", "")),
                                str(entry.get("description", ""))))
    results.sort(key=lambda r: r[0])  # stable: versions stay newest first
    if fmt == "json":
        if cli.dialect == 3:
            cli.out(to_json([{"name": n, "version": v, "app_version": a, "description": d} for n, v, a, d in results]))
        else:
            cli.out(to_json([{"Name": n, "Version": v, "AppVersion": a, "Description": d}
                              for n, v, a, d in results] or None))
    elif fmt == "yaml":
        key = ("name", "version", "app_version", "description") if cli.dialect == 3 else ("Name", "Version", "AppVersion", "Description")
        cli.out(to_yaml([dict(zip(key, r)) for r in results]) if results else "[]\n")
    elif not results:
        cli.out("No results found\n")
    else:
        width = opts["max-col-width"] if cli.dialect == 3 else opts["col-width"]
        cli.out(table([["NAME", "CHART VERSION", "APP VERSION", "DESCRIPTION"]] + [list(r) for r in results], width))
    return 0


def version_matches(version: str, constraint: str) -> bool:
    """A small subset of semver constraints: exact, =, >=, <=, >, <, comma = and."""
    key = chartlib.version_key(version.lstrip("v"))
    for part in constraint.split(","):
        part = part.strip()
        match = re.fullmatch(r"(>=|<=|>|<|=|!=)?\s*v?(.+)", part)
        if not match:
            return False
        op, other = match.group(1) or "=", chartlib.version_key(match.group(2))
        ok = {"=": key == other, "!=": key != other, ">=": key >= other, "<=": key <= other,
              ">": key > other, "<": key < other}[op]
        if not ok:
            return False
    return True
