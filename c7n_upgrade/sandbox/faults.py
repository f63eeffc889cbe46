"""Sandbox faults: parse RELEASE=KIND[:ARG] and keep D/faults.json.

faults.json: {"<release>": {"kind": "never-up", "arg": null}}; the release key is the
default release name or the actual one. Writes are atomic (temp file + rename).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

FAULTS_FILE = "faults.json"
# kind -> whether it takes an argument
KINDS = {
    "never-up": False,
    "slow-start": True,
    "wrong-version": False,
    "flap": False,
    "helm-fail": False,
    "leftover-jobs": False,
    "db-down": False,
}


class FaultError(ValueError):
    """A fault spec that cannot be used; the message names the bad part."""


@dataclass(frozen=True)
class Fault:
    kind: str
    arg: Optional[str] = None

    @property
    def seconds(self) -> float:
        """The slow-start delay (0 for other kinds)."""
        return float(self.arg) if self.kind == "slow-start" and self.arg else 0.0


def validate(kind: str, arg: Optional[str]) -> Fault:
    if kind not in KINDS:
        raise FaultError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
    if KINDS[kind]:
        if arg is None or arg == "":
            raise FaultError(f"fault kind {kind!r} needs an argument: {kind}:SECONDS")
        try:
            seconds = float(arg)
        except ValueError:
            raise FaultError(f"fault {kind!r}: argument {arg!r} is not a number of seconds") from None
        if seconds < 0:
            raise FaultError(f"fault {kind!r}: argument {arg!r} must not be negative")
    elif arg is not None:
        raise FaultError(f"fault kind {kind!r} takes no argument, got {arg!r}")
    return Fault(kind, arg)


def parse_fault(spec: str) -> tuple[str, Fault]:
    """'notify-service=slow-start:5' -> ('notify-service', Fault('slow-start', '5'))."""
    release, sep, rest = spec.partition("=")
    release = release.strip()
    if not sep:
        raise FaultError(f"fault {spec!r}: expected RELEASE=KIND[:ARG], the '=' is missing")
    if not release:
        raise FaultError(f"fault {spec!r}: the RELEASE part before '=' is empty")
    kind, colon, arg = rest.strip().partition(":")
    if not kind:
        raise FaultError(f"fault {spec!r}: the KIND part after '=' is empty")
    return release, validate(kind, arg if colon else None)


def _path(directory) -> Path:
    return Path(directory) / FAULTS_FILE


def load_faults(directory) -> dict[str, Fault]:
    path = _path(directory)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise FaultError(f"{path}: not valid JSON: {exc}") from None
    return {release: validate(item["kind"], item.get("arg")) for release, item in data.items()}


def save_faults(directory, faults: dict[str, Fault]) -> None:
    path = _path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {release: {"kind": f.kind, "arg": f.arg} for release, f in sorted(faults.items())}
    fd, tmp = tempfile.mkstemp(prefix=".faults.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def set_fault(directory, release: str, kind: str, arg: Optional[str] = None) -> Fault:
    fault = validate(kind, arg)
    faults = load_faults(directory)
    faults[release] = fault
    save_faults(directory, faults)
    return fault


def clear_fault(directory, release: str) -> bool:
    """Remove the release's fault; True when there was one."""
    faults = load_faults(directory)
    found = faults.pop(release, None) is not None
    save_faults(directory, faults)
    return found


def fault_for(faults: dict[str, Fault], *names: Optional[str]) -> Optional[Fault]:
    """The fault of the first of `names` (actual name, default name) that has one."""
    for name in names:
        if name and name in faults:
            return faults[name]
    return None
