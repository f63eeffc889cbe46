"""D/helm-calls.jsonl: one line per call, {"argv": [...], "exit": N, "time": <unix float>}; argv
excludes the program name (a contract: the e2e tests and benchmarks read it).

The argv is the caller's, with secrets masked (`******`): the value of a `--set*` pair or a
`--password`/`--kube-token` flag whose key names a password, secret or token, and any form of the
sandbox's own secrets (D/secrets.env) in any argument (a repository URL's credentials, a release
name, a --description), read on every call without the config package (c7n_upgrade/dotenv.py)."""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path


CALLS_FILE = "helm-calls.jsonl"
MASK = "******"
_SET_FLAGS = ("--set", "--set-string", "--set-json", "--set-literal", "--set-file")
_SECRET_FLAGS = ("--password", "-p", "--kube-token")   # -p: `helm registry login`'s --password
_SECRET_KEY = re.compile(r"passw|(?<![a-z])pass(?![a-z])|pwd|secret|token|credential|(api|private|access)[-_]?key", re.IGNORECASE)


def _value_end(value: str, start: int, stops: str) -> int:
    """Where the text from `start` stops at an unescaped character of `stops` (or the end)."""
    i = start
    while i < len(value) and value[i] not in stops:
        i += 2 if value[i] == "\\" else 1
    return min(i, len(value))


def _mask_pairs(value: str) -> str:
    """`a=1,db.password=x` -> `a=1,db.password=******`, read as helm's strvals reads --set: a `\\`
    escapes the next character, a value starting with `{` is a list up to its `}` (commas inside)."""
    out, i = [], 0
    while i <= len(value):
        eq = _value_end(value, i, "=,")
        if eq >= len(value) or value[eq] == ",":
            out.append(value[i:eq])
            i = eq + 1
            continue
        key, secret = value[i:eq], _SECRET_KEY.search(value[i:eq])
        close = _value_end(value, eq + 2, "}") if value[eq + 1:eq + 2] == "{" else None
        # a list never closed: helm refuses the call; a secret's masked to the end, another's read as a scalar
        start = close + 1 if close is not None and (close < len(value) or secret) else eq + 1
        end = _value_end(value, start, ",")
        out.append(f"{key}={MASK}" if secret else value[i:end])
        i = end + 1
    return ",".join(out)


def _mask_value(flag: str, value: str) -> str:
    if flag in _SECRET_FLAGS:
        return MASK
    key, eq, _ = value.partition("=")
    if flag == "--set-literal":   # one pair, the value taken literally (commas and all)
        return f"{key}={MASK}" if eq and _SECRET_KEY.search(key) else value
    if flag == "--set-json":      # JSON values: a secret-named key anywhere masks them all
        return f"{key}={MASK}" if eq and _SECRET_KEY.search(value) else value
    return _mask_pairs(value)


def ensure_site() -> None:
    """Make site-packages importable in a Python started with -S (D/bin/helm's wrapper starts so)."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site
        site.main()


def masked_argv(directory: Path, argv: list[str]) -> list[str]:
    """The argv to log: secret-named values masked, then every form of the sandbox's secrets."""
    out, i = list(argv), 0
    while i < len(out):
        name, eq, value = out[i].partition("=")
        if name.startswith("-p") and len(name) > 2 and not name.startswith("--"):   # -pVALUE
            out[i] = f"-p{MASK}"
        elif name in _SET_FLAGS + _SECRET_FLAGS:
            at = i if eq else i + 1
            if at < len(out):
                raw = value if eq else out[at]
                raw = _mask_value(name, raw)
                out[at] = f"{name}={raw}" if eq else raw
            i = at
        i += 1
    from c7n_upgrade.dotenv import parse_dotenv
    try:
        values = parse_dotenv((Path(directory) / "secrets.env").read_text(encoding="utf-8")).values()
    except FileNotFoundError:
        return out
    except (OSError, ValueError):   # unreadable: its secrets cannot be told apart, so no value is shown
        return out[:1] + [MASK] * len(out[1:])
    ensure_site()
    from c7n_upgrade.redact import Redactor

    redactor = Redactor([v for v in values if v])
    return [redactor.redact(arg) for arg in out]


def log_call(directory: Path, argv: list[str], code: int) -> None:
    line = json.dumps({"argv": masked_argv(directory, argv), "exit": code, "time": time.time()}) + "\n"
    fd = os.open(Path(directory) / CALLS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write: lines from concurrent calls do not interleave
    finally:
        os.close(fd)
