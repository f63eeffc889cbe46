"""Command-line flags: a small pflag, helm's global flags per dialect, Go durations (--timeout)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from .errors import HelmCliError


@dataclass
class Flag:
    name: str
    kind: str = "str"          # str | bool | int | list | csv (comma-split list) | opt (optional value)
    short: str = ""
    default: Any = None
    no_opt: str = ""           # value for kind "opt" given without "="


def parse_flags(args: list[str], flags: list[Flag]) -> tuple[dict, list[str]]:
    by_name = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    opts = {f.name: (list(f.default or []) if f.kind in ("list", "csv") else f.default) for f in flags}
    positional: list[str] = []

    def store(flag: Flag, value: Optional[str], label: str):
        if flag.kind == "bool":
            if value not in ("true", "false", "1", "0", "True", "False"):
                raise HelmCliError(f'invalid argument "{value}" for "{label}" flag: strconv.ParseBool: parsing "{value}": invalid syntax')
            opts[flag.name] = value in ("true", "1", "True")
        elif flag.kind == "int":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise HelmCliError(f'invalid argument "{value}" for "{label}" flag: strconv.ParseInt: parsing "{value}": invalid syntax')
            opts[flag.name] = int(value)
        elif flag.kind == "list":
            opts[flag.name].append(value)
        elif flag.kind == "csv":
            opts[flag.name].extend(v for v in value.split(",") if v)
        else:
            opts[flag.name] = value

    def label_of(flag: Flag) -> str:
        return f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"

    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            flag = by_name.get(name)
            if flag is None:
                raise HelmCliError(f"unknown flag: --{name}")
            if eq:
                store(flag, value, label_of(flag))
            elif flag.kind == "bool":
                opts[flag.name] = True
            elif flag.kind == "opt":
                opts[flag.name] = flag.no_opt
            elif i < len(args):
                store(flag, args[i], label_of(flag))
                i += 1
            else:
                raise HelmCliError(f"flag needs an argument: --{name}")
        elif arg.startswith("-") and len(arg) > 1:
            chars = arg[1:]
            while chars:
                ch, chars = chars[0], chars[1:]
                flag = by_short.get(ch)
                if flag is None:
                    raise HelmCliError(f"unknown shorthand flag: '{ch}' in {arg}")
                if chars.startswith("="):
                    store(flag, chars[1:], label_of(flag))
                    break
                if flag.kind == "bool":
                    opts[flag.name] = True
                    continue
                if flag.kind == "opt":
                    opts[flag.name] = flag.no_opt
                    continue
                if chars:
                    store(flag, chars, label_of(flag))
                elif i < len(args):
                    store(flag, args[i], label_of(flag))
                    i += 1
                else:
                    raise HelmCliError(f"flag needs an argument: '{ch}' in -{ch}")
                break
        else:
            positional.append(arg)
    return opts, positional


def global_flags(dialect: int) -> list[Flag]:
    common = [Flag("kube-context"), Flag("kubeconfig"), Flag("debug", "bool"), Flag("help", "bool", "h")]
    if dialect == 3:
        return common + [Flag("namespace", "str", "n"), Flag("repository-config"), Flag("repository-cache"),
                         Flag("registry-config"), Flag("kube-apiserver"), Flag("kube-token"), Flag("burst-limit", "int"),
                         Flag("qps", "str"), Flag("kube-as-user"), Flag("kube-ca-file"),
                         Flag("kube-insecure-skip-tls-verify", "bool")]
    return common + [Flag("home"), Flag("host"), Flag("tiller-namespace"), Flag("tiller-connection-timeout", "int"),
                     Flag("tls", "bool"), Flag("tls-verify", "bool"), Flag("tls-ca-cert"), Flag("tls-cert"),
                     Flag("tls-key"), Flag("tls-hostname")]


def go_duration_seconds(text: str) -> float:
    """Parse a Go duration (`300s`, `5m`, `1h30m`, `1.5s`)."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    if text in ("0", ""):
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("+"):
        if re.fullmatch(r"\d+(\.\d*)?", text):
            raise ValueError(f'time: missing unit in duration "{text}"')
        raise ValueError(f'time: invalid duration "{text}"')
    return sum(float(n) * units[u] for n, u in parts)
