"""The errors the Kubernetes client raises, each with a message an operator can act on."""
from __future__ import annotations

from ..errors import C7nError

class KubeError(C7nError):
    """Base class of every error this module raises."""


class ClusterUnreachable(KubeError):
    """The API server could not be reached (connection refused, DNS, TLS, ...)."""


class ProxyRefused(KubeError):
    """The API server will not proxy to that address (`access: proxy` cannot reach the pods)."""


class KubeTimeout(KubeError):
    """The API server (or a proxied pod) did not answer in time."""


class KubeApiError(KubeError):
    def __init__(self, message: str, status: int | None = None, reason: str | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body


class KubeNotFound(KubeApiError):
    pass


class KubeForbidden(KubeApiError):
    def __init__(self, message: str, verb: str, resource: str, namespace: str | None, body: str = ""):
        super().__init__(message, 403, "Forbidden", body)
        self.verb = verb
        self.resource = resource
        self.namespace = namespace


class JobStillActive(KubeError):
    """Refusal to delete a hook Job that is still running."""
