"""`limit` and `continue`: the continue token is the real server's (base64url of
{"v":"meta.k8s.io/v1","rv":RV,"start":KEY}); clients treat it as opaque."""
from __future__ import annotations

import base64
import binascii
import json

from .errors import BadRequest

TOKEN_VERSION = "meta.k8s.io/v1"


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": TOKEN_VERSION, "rv": rv, "start": start}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(resourceVersion, start key); 400 BadRequest as the real server words it for a bad token."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("v") != TOKEN_VERSION:
            raise ValueError("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        rv, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        message = str(exc) if str(exc).startswith("continue key") else f"continue key is not valid: {exc}"
        raise BadRequest(message) from None
    if rv <= 0 or not start or start.startswith("/"):
        raise BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    return rv, start


def parse_limit(value) -> int:
    """The `limit` query parameter (0: no limit)."""
    if value in (None, ""):
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        raise BadRequest(f"invalid value for limit: {value!r}") from None
