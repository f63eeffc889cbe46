"""The reporting seam: the library records steps and attachments through a Reporter.

The pytest plugin supplies an Allure-backed reporter; the library never imports allure itself.
Every text passes through the redactor before it leaves the process.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Protocol


class Reporter(Protocol):
    def step(self, title: str) -> contextlib.AbstractContextManager: ...
    def attach(self, name: str, body: str, kind: str = "text") -> None: ...
    def progress(self, line: str) -> None: ...
    def note(self, line: str) -> None: ...


class NullReporter:
    """Records nothing; collects attachments in memory (handy for tools and tests)."""

    def __init__(self) -> None:
        self.attachments: list[tuple[str, str]] = []
        self.steps: list[str] = []
        self.lines: list[str] = []

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.steps.append(title)
        yield

    def attach(self, name: str, body: str, kind: str = "text") -> None:
        self.attachments.append((name, body))

    def progress(self, line: str) -> None:
        self.lines.append(line)

    def note(self, line: str) -> None:
        self.lines.append(line)
