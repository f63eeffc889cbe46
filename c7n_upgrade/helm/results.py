"""What a helm command left behind (argv, exit code, output) and the errors the driver raises."""
from __future__ import annotations

import re

import shlex
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..errors import C7nError


@dataclass
class CommandResult:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration: float = 0.0


def error_line(result: CommandResult) -> str:
    """The ``Error: ...`` line helm printed (with the list that follows a real Helm 3's "N error(s)
    occurred:"), or the last non-empty line of its output."""
    for stream in (result.stderr, result.stdout):
        lines = (stream or "").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("Error:"):
                if not re.search(r"\d+ errors? occurred:$", line.rstrip()):
                    return line.strip()
                items = [ln.strip() for ln in lines[i + 1:] if ln.strip().startswith("* ")]
                return " ".join([line.strip(), *items])
    for stream in (result.stderr, result.stdout):
        lines = [ln.strip() for ln in (stream or "").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return "(no output)"


class HelmError(C7nError):
    """A helm command that failed. ``result`` holds argv, exit code and output."""

    def __init__(self, result: CommandResult, message: Optional[str] = None):
        self.result = result
        if message is None:
            message = f"`{command_line(result.argv)}` exited {result.exit_code}: {error_line(result)}"
        super().__init__(message)


class HelmDialectMismatch(HelmError):
    """The env states helm.dialect and helm answers as the other one: every later helm call would fail too."""


class HelmParseError(C7nError, ValueError):
    """Helm printed something the parser does not understand."""


def command_line(argv: Sequence[Any]) -> str:
    """The argv as one shell-quoted line, for the report."""
    return shlex.join(str(a) for a in argv)
