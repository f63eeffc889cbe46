"""Masking of secrets in everything the suite shows: attachments, step titles, logs, the terminal,
pytest's failure reports (`-l` locals, assertion explanations) and the results files.

A :class:`Redactor` knows a set of secret values (the env's resolved secrets, plus tokens and
values-only credentials learned later through :meth:`Redactor.add`) and replaces every form each one
takes in our output with ``******`` (:func:`secret_forms`):

* the value itself, and without its leading/trailing spaces;
* URL-encoded (``quote``, ``quote_plus``), as in form bodies and query strings;
* JSON-escaped (ASCII-only and not), as in JSON documents and Allure's result files;
* Python ``repr``/``ascii`` of the text and of its UTF-8 bytes, as pytest's ``-l`` and assertion
  explanations print them;
* YAML as PyYAML emits it: single-quoted (``'`` doubled), double-quoted (escapes), plain, and each
  line of a scalar the emitter folds over several lines (at any column it may start in);
* each line of a multi-line secret;
* every form above once more HTML/XML-escaped and JSON-escaped (a YAML form inside a JSON file);
* base64 (standard and URL-safe, with and without padding), both the whole value's encoding and the
  part of the encoding that stays the same when the value sits inside a longer base64 text (``user:password``
  in a Basic ``Authorization`` header, a Kubernetes Secret holding a whole properties file).

Text pytest shortened with ``...`` (its ``saferepr`` keeps the two ends of a long repr) loses the
start or end of a form at the cut: the part of a form that touches ``...`` is masked too.

Short secrets (fewer than ``MIN_SECRET_LEN`` characters) would mask innocent text everywhere, so
they are masked only where they stand as a whole token (not inside a longer word), and a note is
kept in :attr:`Redactor.notes`. Empty values are ignored; so are fragments shorter than
``MIN_SECRET_LEN`` (a line of a multi-line secret, a piece of a folded YAML scalar).
"""
from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
from typing import Any, Iterable
from urllib.parse import quote, quote_plus

import yaml

MASK = "******"
MIN_SECRET_LEN = 4
_MIN_B64_FRAGMENT = 6
_MIN_CUT = 3          # the shortest piece of a form next to a `...` cut that is masked
_CUT = "..."
_YAML_WIDTH = 80      # PyYAML's default best_width: where it folds a long scalar
_YAML_STYLES = (None, "'", '"')


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


def _yaml_lines(secret: str, *, key: str, depth: int, style, allow_unicode: bool) -> list[str]:
    """The lines PyYAML writes for `secret` as the value of `key` nested `depth` levels deep,
    without the key, the indentation, the quotes and the line-continuation backslash."""
    doc: Any = {key: secret}
    for _ in range(depth):
        doc = {"k": doc}
    try:
        text = yaml.safe_dump(doc, default_style=style, allow_unicode=allow_unicode, width=_YAML_WIDTH)
    except yaml.YAMLError:
        return []
    lines = text.splitlines()[depth:]
    if not lines:
        return []
    first = lines[0].lstrip()
    marker = f"{key}: " if style is None else None
    if marker and first.startswith(marker):
        first = first[len(marker):]
    elif ": " in first:
        first = first.split(": ", 1)[1]
    out = []
    for i, line in enumerate([first, *lines[1:]]):
        line = line.strip()
        if i == 0 and line[:1] in ("'", '"'):
            line = line[1:]
        if i == len(lines) - 1 and line[-1:] in ("'", '"'):
            line = line[:-1]
        out += [line, line[:-1]] if line.endswith("\\") else [line]
    return out


def _yaml_forms(secret: str) -> set[str]:
    """Every text PyYAML gives `secret` (quoted, escaped, folded), as fragments to mask."""
    forms: set[str] = set()
    for style in _YAML_STYLES:
        for allow_unicode in (True, False):
            forms.update(_yaml_lines(secret, key="k", depth=0, style=style, allow_unicode=allow_unicode))
    foldable = bool(re.search(r"\s", secret)) or len(secret) > 40 or not secret.isprintable()
    if foldable:
        # where the emitter folds depends on the column the scalar starts at and on the indentation
        longest = max((len(f) for f in forms), default=len(secret))
        for column in range(max(1, _YAML_WIDTH - longest - 4), _YAML_WIDTH + 8):
            for depth in (0, 2):
                key = "k" * max(1, column - 2 - 2 * depth)
                for style in _YAML_STYLES:
                    for allow_unicode in (True, False):
                        forms.update(_yaml_lines(secret, key=key, depth=depth, style=style,
                                                 allow_unicode=allow_unicode))
    return forms


def _escaped(form: str) -> set[str]:
    """A form as it appears once more escaped: inside JSON, HTML or XML."""
    out = {json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1], html.escape(form),
           html.escape(form, quote=False), form.replace('"', "&quot;").replace("'", "&apos;")}
    xml = form.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out |= {xml, xml.replace('"', "&quot;"), xml.replace('"', "&quot;").replace("'", "&apos;")}
    return out


def secret_forms(secret: str) -> set[str]:
    """Every textual form of ``secret`` that the redactor masks (fragments shorter than
    MIN_SECRET_LEN only when the secret itself is that short)."""
    base = {secret, secret.strip(), quote(secret, safe=""), quote(secret), quote_plus(secret),
            json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            repr(secret)[1:-1], ascii(secret)[1:-1], repr(secret.encode("utf-8"))[2:-1]}
    base |= {line.strip() for line in secret.splitlines()}
    if len(secret) >= MIN_SECRET_LEN:
        base |= _yaml_forms(secret)
    forms = set(base)
    for form in base:
        forms |= _escaped(form)
    if len(secret) >= MIN_SECRET_LEN:
        forms = {f for f in forms if len(f) >= MIN_SECRET_LEN}
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
        self._heads: frozenset[str] = frozenset()   # prefixes of the long forms (for `...` cuts)
        self._tails: frozenset[str] = frozenset()   # suffixes of the long forms
        self._longest = 0
        self._forms: dict[str, set[str]] = {}
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
            self._forms[secret] = secret_forms(secret)
            self._secrets.add(secret)
            self._build()

    def _build(self) -> None:
        long_forms: set[str] = set()
        short_forms: set[str] = set()
        for secret in self._secrets:
            target = long_forms if len(secret) >= MIN_SECRET_LEN else short_forms
            target |= self._forms[secret]
        # longest first, so a secret containing another one is masked whole
        parts = [re.escape(f) for f in sorted(long_forms, key=lambda f: (-len(f), f))]
        parts += [
            rf"(?<![A-Za-z0-9]){re.escape(f)}(?![A-Za-z0-9])"
            for f in sorted(short_forms, key=lambda f: (-len(f), f))
        ]
        self._heads = frozenset(f[:k] for f in long_forms for k in range(_MIN_CUT, len(f)))
        self._tails = frozenset(f[-k:] for f in long_forms for k in range(_MIN_CUT, len(f)))
        self._longest = max((len(f) for f in long_forms), default=0)
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
        if regex is None:
            return text
        text = regex.sub(self.mask, text)
        return self._mask_cuts(text) if _CUT in text else text

    __call__ = redact

    def _mask_cuts(self, text: str) -> str:
        """Mask the start of a form just before a `...` cut and the end of one just after it."""
        out, pos = [], 0
        for m in re.finditer(re.escape(_CUT), text):
            start, end = m.start(), m.end()
            head = next((k for k in range(min(self._longest, start - pos), _MIN_CUT - 1, -1)
                         if text[start - k:start] in self._heads), 0)
            out.append(text[pos:start - head] + (self.mask if head else "") + _CUT)
            tail = next((k for k in range(min(self._longest, len(text) - end), _MIN_CUT - 1, -1)
                         if text[end:end + k] in self._tails), 0)
            if tail:
                out.append(self.mask)
            pos = end + tail
        out.append(text[pos:])
        return "".join(out)

    def redact_bytes(self, data: bytes) -> bytes:
        if self._bytes_re is None:
            return data
        try:
            return self.redact(data.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            return self._bytes_re.sub(self.mask.encode("utf-8"), data)

    def contains_secret(self, text: Any) -> bool:
        """Whether ``text`` holds a form of a known secret."""
        return self.redact(text) != str(text)

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


#: words an output is full of: a secret equal to one is masked at every mention of it (garbling the output)
COMMON_WORDS = frozenset({
    "admin", "administrator", "changeme", "choerodon", "default", "devops", "guest", "hunter2", "letmein",
    "master", "mysql", "password", "passw0rd", "prod", "production", "qwerty", "root", "secret", "service",
    "staging", "test", "upgrade", "welcome", "123456", "12345678", "123456789",
})
WEAK_SECRET_LEN = 8


def weak_secret(secret: str, words: Iterable[str] = ()) -> str:
    """Why `secret` cannot be masked cleanly ("" when it can): shorter than WEAK_SECRET_LEN, or equal to a
    word the output is made of (COMMON_WORDS, and `words`: the env's names, namespace, releases)."""
    if len(secret) < WEAK_SECRET_LEN:
        return f"it is {len(secret)} characters long (fewer than {WEAK_SECRET_LEN})"
    if secret.strip().lower() in COMMON_WORDS | {w.lower() for w in words}:
        return "it is a word the output is full of"
    return ""
