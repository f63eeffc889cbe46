"""`--set`, `--set-string` and `--set-file` parsing, as helm's pkg/strvals does it."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import HelmCliError


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` outside {..} lists, keeping backslash escapes for the next stage."""
    parts, buf, depth, i = [], [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _typed(text: str, as_string: bool) -> Any:
    if as_string:
        return text
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", text):
        return int(text)
    return text


def parse_set(expr: str, target: dict, as_string: bool = False) -> dict:
    """Apply one --set / --set-string argument (comma-separated key=value pairs) to `target`."""
    for item in _split_unescaped(expr, ","):
        if item == "":
            continue
        key_part, eq, value_part = None, False, ""
        # find the first unescaped '='
        i = 0
        while i < len(item):
            if item[i] == "\\":
                i += 2
                continue
            if item[i] == "=":
                key_part, value_part, eq = item[:i], item[i + 1:], True
                break
            i += 1
        if not eq:
            raise HelmCliError(f"failed parsing --set data: key \"{_unescape(item)}\" has no value")
        keys = [_unescape(k) for k in _split_key(key_part)]
        if value_part.startswith("{") and value_part.endswith("}"):
            value = [_typed(_unescape(v), as_string) for v in _split_unescaped(value_part[1:-1], ",") if v != ""]
        else:
            value = _typed(_unescape(value_part), as_string)
        node = target
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    return target


def _split_key(key: str) -> list[str]:
    parts, buf, i = [], [], 0
    while i < len(key):
        if key[i] == "\\" and i + 1 < len(key):
            buf.append(key[i:i + 2])
            i += 2
            continue
        if key[i] == ".":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(key[i])
        i += 1
    parts.append("".join(buf))
    return parts


def parse_set_file(expr: str, target: dict) -> dict:
    """Apply one --set-file argument (key=path): the key gets the file's content as a string."""
    key, _, path = expr.partition("=")
    parse_set(f"{key}=x", target, as_string=True)
    node = target
    keys = [_unescape(k) for k in _split_key(key)]
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = Path(path).read_text(encoding="utf-8")
    return target
