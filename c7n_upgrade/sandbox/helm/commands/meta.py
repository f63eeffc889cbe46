"""`helm version` and `helm init` (Helm 2)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import HelmCliError
from ..flags import Flag, global_flags, parse_flags
from ..repos import save_repos

if TYPE_CHECKING:
    from ..cli import Cli

V2_VERSION, V2_COMMIT = "v2.17.0", "a690bad98af45b015bd3da1a41f6218b1a451dbe"
V3_VERSION, V3_COMMIT, V3_GO = "v3.19.5", "b3e6e4d0a61b9b1f62b36d4a0e1f5a2c7d98e3f1", "go1.24.11"  # sandbox build id


def cmd_version(cli: Cli, args):
    flags = [Flag("short", "bool"), Flag("client", "bool", "c"), Flag("template")]
    if cli.dialect == 2:
        flags += [Flag("server", "bool", "s")]
    opts, _ = parse_flags(args, flags + global_flags(cli.dialect))
    if cli.dialect == 3:
        if opts["template"]:
            cli.out(opts["template"].replace("{{.Version}}", V3_VERSION))
        elif opts["short"]:
            cli.out(f"{V3_VERSION}+g{V3_COMMIT[:7]}\n")
        else:
            cli.out(f'version.BuildInfo{{Version:"{V3_VERSION}", GitCommit:"{V3_COMMIT}", '
                    f'GitTreeState:"clean", GoVersion:"{V3_GO}"}}\n')
        return 0
    labels = [label for label, shown in (("Client", opts["client"] or not opts["server"]),
                                         ("Server", opts["server"] or not opts["client"])) if shown]
    long_form = f'&version.Version{{SemVer:"{V2_VERSION}", GitCommit:"{V2_COMMIT}", GitTreeState:"clean"}}'
    cli.out("".join(f"{label}: {V2_VERSION}+g{V2_COMMIT[:7]}\n" if opts["short"] else f"{label}: {long_form}\n"
                    for label in labels))
    return 0


def cmd_init(cli: Cli, args):
    if cli.dialect == 3:
        raise HelmCliError('unknown command "init" for "helm"\nRun \'helm --help\' for usage.')
    opts, _ = cli.parse(args, [Flag("client-only", "bool", "c"), Flag("skip-refresh", "bool"),
                                Flag("upgrade", "bool"), Flag("wait", "bool"), Flag("service-account")])
    cli.settings.repo_cache.mkdir(parents=True, exist_ok=True)
    if not cli.settings.repo_config.exists():
        save_repos(cli.settings, [])
    home = cli.settings.repo_config.parent.parent
    cli.out(f"$HELM_HOME has been configured at {home}.\n")
    if opts["client-only"]:
        cli.out("Not installing Tiller due to 'client-only' flag having been set\n")
    else:
        cli.out("Warning: Tiller is already installed in the cluster.\n"
                "(Use --client-only to suppress this message, or --upgrade to upgrade Tiller to the current version.)\n")
    return 0
