"""Masking of secrets in everything the suite shows: attachments, step titles, logs, the terminal.

A :class:`Redactor` knows a set of secret values (the env's resolved secrets, plus tokens obtained
later through :meth:`Redactor.add`) and replaces every occurrence with ``******``, in these forms:

* the value itself;
* URL-encoded (``quote`` and ``quote_plus``), as in form bodies and query strings;
* JSON-escaped (a value with quotes or backslashes inside a JSON document);
* base64 (standard and URL-safe), both the whole value's encoding and the part of the encoding that
  stays the same when the value sits inside a longer base64 text (``user:password`` in a Basic
  ``Authorization`` header, a Kubernetes Secret holding a whole properties file).

Short secrets (fewer than ``MIN_SECRET_LEN`` characters) would mask innocent text everywhere, so
they are masked only where they stand as a whole token (not inside a longer word), and a note is
kept in :attr:`Redactor.notes`. Empty values are ignored.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
from typing import Any, Iterable
from urllib.parse import quote, quote_plus

MASK = "******"
MIN_SECRET_LEN = 4
_MIN_B64_FRAGMENT = 6


def _b64_forms(secret: bytes) -> set[str]:
    forms: set[str] = set()
    for encoder in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encoder(secret).decode("ascii")
        forms.add(whole)
        forms.add(whole.rstrip("="))
        # The part of the encoding that does not depend on the bytes around the secret, for each
        # of the three alignments the secret can have inside a longer base64 stream.
        for k in range(3):
            enc = encoder(b"\0" * k + secret).decode("ascii")
            start = -(-8 * k // 6)  # ceil(8k/6): first character made only of secret bits
            end = (8 * (k + len(secret))) // 6  # last character made only of secret bits
            fragment = enc[start:end]
            if len(fragment) >= _MIN_B64_FRAGMENT:
                forms.add(fragment)
    return forms


def secret_forms(secret: str) -> set[str]:
    """Every textual form of ``secret`` that the redactor masks."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    if len(secret) >= MIN_SECRET_LEN:
        forms |= _b64_forms(secret.encode("utf-8"))
    return {f for f in forms if f}


class Redactor:
    """Replaces known secrets with ``******`` in text, bytes, data and log records."""

    def __init__(self, secrets: Iterable[str] = (), mask: str = MASK):
        self.mask = mask
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self.notes: list[str] = []
        self._text_re: re.Pattern[str] | None = None
        self._bytes_re: re.Pattern[bytes] | None = None
        for secret in secrets:
            self.add(secret)

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:  # never the values
        return f"<Redactor of {len(self._secrets)} secret(s)>"

    def add(self, secret: Any) -> None:
        """Mask ``secret`` from now on (a SecretStr, bytes or str; empty values are ignored)."""
        if secret is None:
            return
        if hasattr(secret, "get_secret_value"):
            secret = secret.get_secret_value()
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        secret = str(secret)
        if not secret.strip():
            return
        with self._lock:
            if secret in self._secrets:
                return
            if len(secret) < MIN_SECRET_LEN:
                self.notes.append(
                    f"a secret of {len(secret)} character(s) is masked only where it stands as a whole"
                    f" token; use secrets of at least {MIN_SECRET_LEN} characters"
                )
            self._secrets.add(secret)
            self._build()

    def _build(self) -> None:
        long_forms: set[str] = set()
        short_forms: set[str] = set()
        for secret in self._secrets:
            target = long_forms if len(secret) >= MIN_SECRET_LEN else short_forms
            target |= secret_forms(secret)
        # longest first, so a secret containing another one is masked whole
        parts = [re.escape(f) for f in sorted(long_forms, key=lambda f: (-len(f), f))]
        parts += [
            rf"(?<![A-Za-z0-9]){re.escape(f)}(?![A-Za-z0-9])"
            for f in sorted(short_forms, key=lambda f: (-len(f), f))
        ]
        if not parts:
            self._text_re = self._bytes_re = None
            return
        pattern = "|".join(parts)
        self._text_re = re.compile(pattern)
        self._bytes_re = re.compile(pattern.encode("utf-8"))

    def redact(self, text: Any) -> str:
        """``text`` with every known secret masked (non-strings are converted with ``str``)."""
        if text is None:
            return ""
        if isinstance(text, bytes):
            return self.redact_bytes(text).decode("utf-8", "replace")
        if not isinstance(text, str):
            text = str(text)
        regex = self._text_re
        return regex.sub(self.mask, text) if regex is not None else text

    __call__ = redact

    def redact_bytes(self, data: bytes) -> bytes:
        regex = self._bytes_re
        return regex.sub(self.mask.encode("utf-8"), data) if regex is not None else data

    def filter(self) -> "RedactingFilter":
        return RedactingFilter(self)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the message, its arguments and the traceback."""

    def __init__(self, redactor: Redactor, name: str = ""):
        super().__init__(name)
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is
            message = f"{record.msg} {record.args}"
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


SECRET_KEY = re.compile(r"(password|passwd|secret|token|access_?key|secret_?key|credential|private_?key)", re.I)


def secret_like_values(data, min_length: int = 4) -> list[str]:
    """String values stored under secret-looking keys anywhere in nested values (helm values, env)."""
    found: list[str] = []

    def walk(node, secret_key: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, secret_key or bool(SECRET_KEY.search(str(key))))
        elif isinstance(node, list):
            for value in node:
                walk(value, secret_key)
        elif secret_key and isinstance(node, (str, int)) and not isinstance(node, bool):
            text = str(node)
            if len(text) >= min_length:
                found.append(text)

    walk(data, False)
    return found
