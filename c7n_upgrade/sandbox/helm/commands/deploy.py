"""`helm upgrade` and `helm install`."""
from __future__ import annotations

import random
import sys
import time
import urllib.error
from pathlib import Path
from typing import TYPE_CHECKING

from c7n_upgrade.sandbox import charts as chartlib
from c7n_upgrade.sandbox.faults import fault_for

from ..engine import deploy
from ..errors import HelmCliError
from ..flags import Flag, go_duration_seconds
from ..formats import to_json, to_yaml
from ..output import dry_run_block, status_block
from ..repos import default_release_name, resolve_chart
from ..strvals import parse_set, parse_set_file

if TYPE_CHECKING:
    from ..cli import Cli


def _deploy_flags(cli: Cli) -> list[Flag]:
    flags = [Flag("set", "list"), Flag("set-string", "list"), Flag("set-file", "list"), Flag("version"),
             Flag("wait", "bool"), Flag("atomic", "bool"), Flag("description"), Flag("repo"),
             Flag("devel", "bool"), Flag("username"), Flag("password"), Flag("force", "bool"),
             Flag("no-hooks", "bool")]
    if cli.dialect == 3:
        flags += [Flag("values", "csv", "f"), Flag("timeout", default="5m0s"),
                  Flag("dry-run", "opt", no_opt="client"), Flag("wait-for-jobs", "bool"),
                  Flag("create-namespace", "bool"), Flag("output", "str", "o"), Flag("skip-crds", "bool"),
                  Flag("render-subchart-notes", "bool"), Flag("disable-openapi-validation", "bool")]
    else:
        flags += [Flag("values", "list", "f"), Flag("timeout", "int", default=300), Flag("dry-run", "bool"),
                  Flag("namespace"), Flag("recreate-pods", "bool"), Flag("tls", "bool")]
    return flags


def _supplied_values(cli: Cli, opts: dict) -> dict:
    values: dict = {}
    for path in opts["values"]:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError:
            raise HelmCliError(f"open {path}: no such file or directory") from None
        try:
            data = chartlib.load_yaml(text) or {}
        except Exception as exc:
            raise HelmCliError(f"failed to parse {path}: error converting YAML to JSON: {exc}") from None
        if not isinstance(data, dict):
            raise HelmCliError(f"failed to parse {path}: error unmarshaling JSON: cannot unmarshal into values")
        values = chartlib.deep_merge(values, data, keep_nulls=True)
    for expr in opts["set"]:
        parse_set(expr, values)
    for expr in opts["set-string"]:
        parse_set(expr, values, as_string=True)
    for expr in opts["set-file"]:
        parse_set_file(expr, values)
    return values


def _timeout_seconds(cli: Cli, opts: dict) -> float:
    if cli.dialect == 2:
        return float(opts["timeout"])
    try:
        return go_duration_seconds(opts["timeout"])
    except ValueError as exc:
        raise HelmCliError(f'invalid argument "{opts["timeout"]}" for "--timeout" flag: {exc}') from None


def _run_deploy(cli: Cli, name: str, chart_ref: str, opts: dict, mode: str) -> int:
    settings = cli.settings
    namespace = settings.namespace if cli.dialect == 3 else (opts.get("namespace") or settings.namespace)
    timeout = _timeout_seconds(cli, opts)
    dry_run = bool(opts["dry-run"])
    if cli.dialect == 3 and opts["dry-run"] not in (None, False, "client", "server", "none", "true", "false"):
        raise HelmCliError('invalid dry-run flag. Flag must one of the following: false, true, none, client, or server')
    if cli.dialect == 3 and opts["dry-run"] in ("none", "false"):
        dry_run = False
    supplied = _supplied_values(cli, opts)
    pkg = resolve_chart(settings, chart_ref, opts["version"], opts.get("repo"))
    fault = fault_for(settings.faults, name, default_release_name(settings, pkg.meta["name"]))
    fail_message = fault.deploy_failure() if fault else None  # the helm-fail fault
    if fault and fault.deploy_delay() and not dry_run:  # the helm-hang fault
        time.sleep(fault.deploy_delay())
    api = settings.api()
    try:
        if cli.dialect == 3 and opts["create-namespace"] and not dry_run \
                and api.get_or_none("namespaces", None, namespace) is None:
            api.create("namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        result = deploy(api, name=name, pkg=pkg, supplied=supplied, namespace=namespace, dialect=cli.dialect,
                         tiller_ns=settings.tiller_namespace, mode=mode, install_missing=opts.get("install", False),
                         reuse_values=opts.get("reuse-values", False), reset_values=opts.get("reset-values", False),
                         dry_run=dry_run, wait=opts["wait"] or opts["atomic"], timeout=timeout,
                         create_hooks=not opts["no-hooks"], fail_message=None if dry_run else fail_message,
                         wait_hooks=bool(fault and fault.fails_hooks()))  # the hook-fail fault
    except (urllib.error.URLError, OSError) as exc:
        raise cli.unreachable(exc) from None
    rel = result.release
    if cli.dialect == 3:
        fmt = cli.output_format(opts)
        if fmt == "json":
            cli.out(to_json(rel.to_v3()))
            return 0
        if fmt == "yaml":
            cli.out(to_yaml(rel.to_v3()))
            return 0
        text = ""
        if mode == "upgrade":
            text = (f'Release "{name}" does not exist. Installing it now.\n' if result.installed
                    else f'Release "{name}" has been upgraded. Happy Helming!\n')
        text += status_block(rel, 3)
        if dry_run:
            text += dry_run_block(rel)
        cli.out(text)
        return 0
    if mode == "upgrade" and result.installed:
        cli.out(f'Release "{name}" does not exist. Installing it now.\n')
    if result.installed:
        cli.out(f"NAME:   {name}\n" + ("" if dry_run else status_block(rel, 2)))
    else:
        cli.out(f'Release "{name}" has been upgraded.\n' + ("" if dry_run else status_block(rel, 2)))
    return 0


def cmd_upgrade(cli: Cli, args):
    flags = _deploy_flags(cli) + [Flag("install", "bool", "i"), Flag("reuse-values", "bool"),
                                   Flag("reset-values", "bool"), Flag("reset-then-reuse-values", "bool")]
    opts, pos = cli.parse(args, flags)
    cli.need_args(pos, 2, "upgrade", "upgrade [RELEASE] [CHART]",
                  "This command needs 2 arguments: release name, chart path")
    return _run_deploy(cli, pos[0], pos[1], opts, "upgrade")


def cmd_install(cli: Cli, args):
    flags = _deploy_flags(cli)
    if cli.dialect == 2:
        flags += [Flag("name", "str", "n"), Flag("replace", "bool"), Flag("name-template")]
    else:
        flags += [Flag("generate-name", "bool", "g"), Flag("replace", "bool")]
    opts, pos = cli.parse(args, flags)
    if cli.dialect == 3:
        if opts["generate-name"] and len(pos) == 1:
            pos = [_random_name(), pos[0]]
        if len(pos) != 2:
            raise HelmCliError("must either provide a name or specify --generate-name" if len(pos) < 2 else
                               f"expected at most two arguments, unexpected arguments: {', '.join(pos[2:])}")
        name, chart_ref = pos
    else:
        if len(pos) != 1:
            raise HelmCliError("This command needs 1 argument: chart name")
        name, chart_ref = opts["name"] or _random_name(), pos[0]
    return _run_deploy(cli, name, chart_ref, opts, "install")


def _random_name() -> str:
    return f"{random.choice(['funny', 'zany', 'brave', 'quiet', 'eager'])}-{random.choice(['bunny', 'otter', 'lynx', 'heron'])}"
