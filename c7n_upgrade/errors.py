"""The library's one exception root. Every error it raises on purpose derives from `C7nError`, its
message written for the operator, so a caller tells a clean failure from a bug in one `except`."""
from __future__ import annotations


class C7nError(Exception):
    """An error the library raises on purpose (a refusal, an unreachable cluster, a failed step)."""
