"""Dotenv text (``NAME=value`` lines) without the config package's imports: D/bin/helm's wrapper
reads the sandbox's secrets.env on every call, and pydantic alone would cost it about 0.2 s."""
from __future__ import annotations

import re

from .errors import C7nError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


class DotenvError(C7nError, ValueError):
    """A line that is no NAME=value; the message names the line, never its text (it may be a secret)."""


def dotenv_value(raw: str) -> str:
    """The value of a dotenv ``NAME=value`` line: ``'literal'``, ``"with \\n \\" \\\\ escapes"``
    (as python-dotenv reads them), or bare text without its surrounding spaces."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        out, chars = [], iter(raw[1:-1])
        for ch in chars:
            if ch == "\\":
                nxt = next(chars, "")
                if nxt not in _ESCAPES:
                    raise ValueError("unknown escape in a double-quoted value (use \\\\ for a backslash)")
                out.append(_ESCAPES[nxt])
            else:
                out.append(ch)
        return "".join(out)
    return raw


def dotenv_line(name: str, value: str) -> str:
    """``NAME="value"`` with the escapes `dotenv_value` reads back: any text survives the round trip."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'{name}="{escaped}"\n'


def parse_dotenv(text: str) -> dict[str, str]:
    """NAME -> value of every line (blank lines, `#` comments and `export ` prefixes allowed)."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.match(key):
            raise DotenvError(f"line {lineno}: expected NAME=value")
        try:
            out[key] = dotenv_value(value)
        except ValueError as exc:
            raise DotenvError(f"line {lineno}: {exc}") from None
    return out
