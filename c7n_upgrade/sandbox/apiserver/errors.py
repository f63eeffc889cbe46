"""Errors as the Kubernetes API reports them: a `Status` object with `code` and `reason`, encoded as
the real server's Go encoder writes it (fields in struct order, compact, HTML-escaped, one newline)."""
from __future__ import annotations

import json


class StoreError(Exception):
    """Base error; `code` and `reason` follow the Kubernetes Status object. `resource` is the
    qualified resource ("pods", "deployments.apps"; a kind for the precondition conflicts)."""
    code = 500
    reason = "InternalError"

    def __init__(self, message, resource=None, name=None):
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.name = name

    def details(self) -> dict | None:
        """StatusDetails: name, group, kind (the resource), as NewNotFound/NewConflict fill them."""
        if not self.name:
            return None
        kind, _, group = (self.resource or "").partition(".")
        return {"name": self.name, **({"group": group} if group else {}), **({"kind": kind} if kind else {})}


class NotFound(StoreError):
    code, reason = 404, "NotFound"


class Conflict(StoreError):
    code, reason = 409, "Conflict"


class AlreadyExists(Conflict):
    reason = "AlreadyExists"


class Invalid(StoreError):
    code, reason = 422, "Invalid"


class BadRequest(Invalid):
    code, reason = 400, "BadRequest"


class Expired(StoreError):
    """A resourceVersion or continue token older than the history the server keeps."""
    code, reason = 410, "Expired"


class HttpError(Exception):
    """An API answer other than a store error (404 route, 400 body, 503 proxy...)."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status_object(code, reason, message, details=None) -> dict:
    """A failure Status, keys in the order of metav1.Status (details omitted when None)."""
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason}
    if details is not None:
        obj["details"] = details
    obj["code"] = code
    return obj


def go_json(obj) -> bytes:
    """JSON as Go's encoding/json Encoder writes it: compact, <, > and & escaped, UTF-8, a newline."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text.encode("utf-8", "replace") + b"\n"


def not_found() -> HttpError:
    """What the server answers for a path it does not serve (NewNotFound of nothing: empty details)."""
    return HttpError(404, "NotFound", "the server could not find the requested resource", {})
