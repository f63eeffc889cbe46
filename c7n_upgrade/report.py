"""The reporting seam: the library records steps and attachments through a Reporter.

The pytest plugin supplies an Allure-backed reporter; the library never imports allure itself.
Step code records through a `StepLog` (titles in the run's language, every text redacted) and
fails a step with `StepFailed`, which the plugin shows as a clear failure.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Protocol

from . import i18n
from .errors import C7nError


class Reporter(Protocol):
    def step(self, title: str) -> contextlib.AbstractContextManager: ...
    def attach(self, name: str, body: str, kind: str = "text") -> None: ...
    def progress(self, line: str) -> None: ...
    def note(self, line: str) -> None: ...


class StepFailed(C7nError):
    """A step could not be completed; the message says why (already redacted)."""


class StepLog:
    """What the library records for a step, every text redacted: titled steps in the run's language
    (`i18n` keys), attachments, notes (report + terminal) and progress lines (terminal)."""

    def __init__(self, reporter: Reporter, redactor, lang: str = "en"):
        self.reporter = reporter
        self.redactor = redactor
        self.lang = lang

    def redact(self, text) -> str:
        return self.redactor.redact(text)

    def step(self, key: str, **fields) -> contextlib.AbstractContextManager:
        """A titled step: `key` is an i18n title, `fields` fill it."""
        return self.reporter.step(self.redact(i18n.title(self.lang, key, **fields)))

    def attach(self, name: str, body: str, kind: str = "text") -> None:
        self.reporter.attach(name, self.redact(body), kind)

    def note(self, line: str) -> None:
        self.reporter.note(self.redact(line))

    def progress(self, line: str) -> None:
        self.reporter.progress(self.redact(line))

    def failed(self, message: str) -> StepFailed:
        """The step's failure, redacted (raise it)."""
        return StepFailed(self.redact(message))

    @contextlib.contextmanager
    def failing_on(self, *errors: type[BaseException], what: str = "") -> Iterator[None]:
        """Any of `errors` raised inside fails the step with its message (after `what: `), redacted."""
        try:
            yield
        except errors as exc:
            raise self.failed(f"{what}: {exc}" if what else str(exc)) from None
