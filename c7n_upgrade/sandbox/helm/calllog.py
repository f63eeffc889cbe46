"""D/helm-calls.jsonl: one line per call, {"argv": [...], "exit": N, "time": <unix float>}; argv
excludes the program name (a contract: the e2e tests and benchmarks read it).

The argv is the caller's, with secrets masked (`******`): the value of a `--set*` pair or a
`--password`/`--kube-token` flag whose key names a password, secret or token, and any form of the
sandbox's own secrets (D/secrets.env). The secrets file is read only when the argv has such a flag
(reading it costs about 0.2 s; the suite passes values in files)."""
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
_SECRET_FLAGS = ("--password", "--kube-token")
_SECRET_KEY = re.compile(r"passw|secret|token|credential", re.IGNORECASE)
_PAIRS = re.compile(r"(?<!\\),")


def _mask_pairs(value: str) -> str:
    """`a=1,db.password=x` -> `a=1,db.password=******`."""
    out = []
    for pair in _PAIRS.split(value):
        key, eq, _ = pair.partition("=")
        out.append(f"{key}={MASK}" if eq and _SECRET_KEY.search(key) else pair)
    return ",".join(out)


def ensure_site() -> None:
    """Make site-packages importable in a Python started with -S (D/bin/helm's wrapper starts so)."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site
        site.main()


def masked_argv(directory: Path, argv: list[str]) -> list[str]:
    """The argv to log: secret-named values masked, then every form of the sandbox's secrets."""
    out, risky, i = list(argv), False, 0
    while i < len(out):
        name, eq, value = out[i].partition("=")
        if name in _SET_FLAGS + _SECRET_FLAGS:
            risky = True
            at = i if eq else i + 1
            if at < len(out):
                raw = value if eq else out[at]
                raw = MASK if name in _SECRET_FLAGS else _mask_pairs(raw)
                out[at] = f"{name}={raw}" if eq else raw
            i = at
        i += 1
    secrets_file = Path(directory) / "secrets.env"
    if risky and secrets_file.exists():
        ensure_site()
        from c7n_upgrade.config import read_secrets_file
        from c7n_upgrade.redact import Redactor

        redactor = Redactor([v for v in read_secrets_file(secrets_file).values() if v])
        out = [redactor.redact(arg) for arg in out]
    return out


def log_call(directory: Path, argv: list[str], code: int) -> None:
    line = json.dumps({"argv": masked_argv(directory, argv), "exit": code, "time": time.time()}) + "\n"
    fd = os.open(Path(directory) / CALLS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write: lines from concurrent calls do not interleave
    finally:
        os.close(fd)
