"""Errors as the Kubernetes API reports them: a `Status` object with `code` and `reason`."""
from __future__ import annotations


class StoreError(Exception):
    """Base error; `code` and `reason` follow the Kubernetes Status object."""
    code = 500
    reason = "InternalError"

    def __init__(self, message, resource=None, name=None):
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.name = name


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


class HttpError(Exception):
    """An API answer other than a store error (404 route, 400 body, 503 proxy...)."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status_object(code, reason, message, details=None) -> dict:
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code}
    if details:
        obj["details"] = details
    return obj


def not_found() -> HttpError:
    return HttpError(404, "NotFound", "the server could not find the requested resource")
