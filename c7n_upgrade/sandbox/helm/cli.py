"""The sandbox `helm` executable's entry point: global flags, the command table, errors as helm
prints them (`Error: ...` on stderr, exit 1), and one helm-calls.jsonl line per call."""
from __future__ import annotations

import sys
import urllib.error
from pathlib import Path
from typing import Callable, Optional

from c7n_upgrade.sandbox.kubeapi import KubeApiError

from .calllog import log_call
from .commands import COMMANDS
from .errors import HelmCliError
from .flags import Flag, global_flags, parse_flags
from .repos import dial_error
from .settings import Settings, read_sandbox_json, sandbox_dir, settings_from
from .storage import ReleaseStorage, StoredRelease


class Cli:
    """One helm invocation: the dialect, the sandbox dir, and what the commands share."""

    def __init__(self, dialect: int, directory: Path, config: dict, out: Callable[[str], None]):
        self.dialect, self.directory, self.config, self.out = dialect, directory, config, out
        self.settings: Optional[Settings] = None

    def parse(self, args: list[str], flags: list[Flag]) -> tuple[dict, list[str]]:
        opts, positional = parse_flags(args, flags + global_flags(self.dialect))
        self.settings = settings_from(opts, self.dialect, self.directory, self.config)
        return opts, positional

    def output_format(self, opts: dict, allowed=("table", "json", "yaml")) -> str:
        value = (opts.get("output") or "table").lower()
        if value not in allowed:
            raise HelmCliError(f'invalid argument "{value}" for "-o, --output" flag: invalid format type'
                               if self.dialect == 3 else f"unknown output format {value!r}")
        return value

    def storage(self) -> ReleaseStorage:
        return ReleaseStorage(self.settings.api(), self.dialect, self.settings.tiller_namespace)

    def history_of(self, name: str) -> list[StoredRelease]:
        ns = self.settings.namespace if self.dialect == 3 else None
        try:
            return self.storage().history(name, ns)
        except (urllib.error.URLError, OSError) as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: Exception) -> HelmCliError:
        if self.dialect == 3:
            return HelmCliError(f'Kubernetes cluster unreachable: Get "{self.settings.api_url}/version": '
                                f"{dial_error(self.settings.api_url, exc)}")
        return HelmCliError("could not find tiller")

    def not_found(self, name: str) -> HelmCliError:
        return HelmCliError("release: not found" if self.dialect == 3 else f'release: "{name}" not found')

    def need_args(self, positional: list[str], count: int, command: str, usage: str, v2_message: str):
        if len(positional) != count:
            if self.dialect == 3:
                plural = "argument" if count == 1 else "arguments"
                raise HelmCliError(f'"helm {command}" requires {count} {plural}\n\nUsage:  helm {usage} [flags]')
            raise HelmCliError(v2_message)

    def pick_revision(self, name: str, revision: int) -> StoredRelease:
        history = self.history_of(name)
        if revision:
            history = [r for r in history if r.version == revision]
        if not history:
            raise self.not_found(name)
        return history[-1]

    def run(self, argv: list[str]) -> int:
        """Run the command named in `argv`; its output goes to `out`. Global flags with a value may
        come before the command."""
        i, pre = 0, []
        valued = {f"--{f.name}" for f in global_flags(self.dialect) if f.kind != "bool"} | \
                 {f"-{f.short}" for f in global_flags(self.dialect) if f.short and f.kind != "bool"}
        while i < len(argv) and argv[i].startswith("-"):
            pre.append(argv[i])
            if argv[i] in valued and i + 1 < len(argv):
                pre.append(argv[i + 1])
                i += 1
            i += 1
        if i >= len(argv):
            if "--version" in pre or "-h" in pre or "--help" in pre or not argv:
                self.out("The Kubernetes package manager (c7n sandbox helm)\n\nUsage:\n  helm [command]\n")
                return 0
            raise HelmCliError("unknown command for \"helm\"")
        command, rest = argv[i], pre + argv[i + 1:]
        if command not in COMMANDS:
            raise HelmCliError(f'unknown command "{command}" for "helm"\nRun \'helm --help\' for usage.')
        return COMMANDS[command](self, rest)


def main(argv: list[str]) -> int:
    """`helm ARGV...`: the exit status; one helm-calls.jsonl line, whatever happened."""
    chunks: list[str] = []
    code = 1
    directory: Optional[Path] = None
    try:
        directory = sandbox_dir()
        config = read_sandbox_json(directory)
        cli = Cli(int(config.get("helm_dialect", 2)), directory, config, chunks.append)
        code = cli.run(list(argv))
    except HelmCliError as exc:
        sys.stdout.write("".join(chunks))
        chunks = []
        sys.stderr.write(f"Error: {exc}\n")
        code = 1
    except KubeApiError as exc:
        sys.stdout.write("".join(chunks))
        chunks = []
        sys.stderr.write(f"Error: {exc.message}\n")
        code = 1
    except Exception as exc:  # never a traceback: helm prints one error line
        sys.stdout.write("".join(chunks))
        chunks = []
        sys.stderr.write(f"Error: {type(exc).__name__}: {exc}\n")
        code = 1
    finally:
        sys.stdout.write("".join(chunks))
        sys.stdout.flush()
        if directory is not None and directory.is_dir():
            log_call(directory, argv, code)
    return code
