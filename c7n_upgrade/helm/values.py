"""Release values: dotted keys, merging as helm merges ``-f`` files, diffs, and 0600 values files."""
from __future__ import annotations

import copy
import difflib
import os
import re
import secrets as _secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import yaml

from .shown import shown_values


def _split_dotted(key: str) -> list[str]:
    """``env.open.X`` -> [env, open, X]; a backslash keeps a dot (``kubernetes\\.io``)."""
    parts, cur, escape = [], [], False
    for ch in key:
        if escape:
            cur.append(ch)
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    if any(p == "" for p in parts):
        raise ValueError(f"invalid dotted key {key!r}")
    return parts


def dotted_to_nested(flat: Mapping[str, Any]) -> dict:
    """``{"env.open.X": 1}`` -> ``{"env": {"open": {"X": 1}}}`` (nested dict values are merged)."""
    out: dict = {}
    for key, value in flat.items():
        parts = _split_dotted(str(key))
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ValueError(f"key {key!r} conflicts with the value at {'.'.join(parts[: i + 1])!r}")
            node = nxt
        last = parts[-1]
        if isinstance(value, Mapping):
            value = dotted_to_nested(value)
            if isinstance(node.get(last), dict):
                node[last] = deep_merge(node[last], value)
                continue
        elif last in node and isinstance(node[last], dict):
            raise ValueError(f"key {key!r} conflicts with nested keys under it")
        node[last] = copy.deepcopy(value)
    return out


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict:
    """A new dict: ``overlay`` over ``base``, mappings merged recursively, anything else replaced
    (lists too), as helm merges several ``-f`` files. Neither input is changed."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _dump_yaml(values: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(values), default_flow_style=False, sort_keys=True, allow_unicode=True)


def values_diff(old: Mapping[str, Any], new: Mapping[str, Any], *, old_label="current values",
                new_label="new values") -> str:
    """Unified diff of the two value sets as sorted YAML ("" when equal). Holds the values as they are:
    to show it, diff `shown.shown_values` of both (`shown_diff`)."""
    a = _dump_yaml(old or {}).splitlines(keepends=True) if old else []
    b = _dump_yaml(new or {}).splitlines(keepends=True) if new else []
    return "".join(difflib.unified_diff(a, b, fromfile=old_label, tofile=new_label))


def shown_diff(old: Mapping[str, Any], new: Mapping[str, Any], plan_keys=()) -> str:
    """The diff for the report and the terminal: allowlisted values as they are, the others as
    `<hidden HASH>` (the hash changes with the value, so a changed secret still shows as a change)."""
    return values_diff(shown_values(old, plan_keys), shown_values(new, plan_keys))


def write_values_file(values: Mapping[str, Any], dir: Optional[os.PathLike | str] = None) -> Path:
    """Write ``values`` as YAML to a new file readable by its owner only (0600). The caller removes it."""
    directory = Path(dir) if dir is not None else Path(tempfile.gettempdir())
    text = _dump_yaml(values or {})
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = directory / f"c7n-values-{_secrets.token_hex(8)}.yaml"
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, 0o600)  # whatever the umask did
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except BaseException:
            try:
                os.unlink(path)
            finally:
                raise
        return path
    raise OSError(f"cannot create a values file in {directory}")


@contextmanager
def values_file(values: Mapping[str, Any], dir: Optional[os.PathLike | str] = None) -> Iterator[Path]:
    """``with values_file(v) as path:`` a 0600 YAML file that is removed afterwards, whatever happens."""
    path = write_values_file(values, dir)
    try:
        yield path
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


#: the private directory (0700) a run keeps its values files in: <tmp>/c7n-upgrade-values-<pid>-<random>
VALUES_DIR_PREFIX = "c7n-upgrade-values-"


def private_values_dir(parent: Optional[os.PathLike | str] = None) -> Path:
    """A new directory only this user can enter (0700), named after this process, for values files."""
    path = Path(tempfile.mkdtemp(prefix=f"{VALUES_DIR_PREFIX}{os.getpid()}-", dir=parent))
    os.chmod(path, 0o700)
    return path


def remove_leftover_values_dirs(parent: Optional[os.PathLike | str] = None) -> list[Path]:
    """Remove the values directories of runs that were killed (their process is gone from this
    host); only this user's. Returns what was removed."""
    directory = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed = []
    for path in directory.glob(f"{VALUES_DIR_PREFIX}*"):
        found = re.match(re.escape(VALUES_DIR_PREFIX) + r"(\d+)-", path.name)
        try:
            mine = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if not found or not mine or _running(int(found.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
