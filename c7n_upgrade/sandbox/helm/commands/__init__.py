"""The helm commands the sandbox speaks, by name: each is `command(cli, args) -> exit status`."""
from .deploy import cmd_install, cmd_upgrade
from .meta import cmd_init, cmd_version
from .releases import cmd_get, cmd_history, cmd_list, cmd_status
from .repo import cmd_repo, cmd_search

COMMANDS = {"version": cmd_version, "init": cmd_init, "repo": cmd_repo, "search": cmd_search,
            "list": cmd_list, "ls": cmd_list, "get": cmd_get, "status": cmd_status,
            "history": cmd_history, "hist": cmd_history, "upgrade": cmd_upgrade, "install": cmd_install}
