"""A tiny Kubernetes REST client (urllib + json only) for the sandbox helm.

The sandbox `helm` runs ~50 times per suite run, so it must start fast: no kubernetes
package, no requests. Paths follow the standard Kubernetes REST layout.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse

# resource (plural, optionally ".group") -> (API prefix, namespaced)
RESOURCES = {
    "pods": ("api/v1", True),
    "services": ("api/v1", True),
    "configmaps": ("api/v1", True),
    "secrets": ("api/v1", True),
    "events": ("api/v1", True),
    "namespaces": ("api/v1", False),
    "deployments": ("apis/apps/v1", True),
    "replicasets": ("apis/apps/v1", True),
    "jobs": ("apis/batch/v1", True),
    "leases": ("apis/coordination.k8s.io/v1", True),
}
_GROUPS = {"apps": "deployments replicasets", "batch": "jobs", "coordination.k8s.io": "leases"}


class KubeApiError(Exception):
    """A non-2xx answer; fields come from the Kubernetes Status body when there is one."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def _resource_info(resource: str) -> tuple[str, str, bool]:
    plural, _, group = resource.partition(".")
    if plural not in RESOURCES:
        raise ValueError(f"unknown resource {resource!r}")
    if group and plural not in _GROUPS.get(group, "").split():
        raise ValueError(f"resource {plural!r} is not in group {group!r}")
    prefix, namespaced = RESOURCES[plural]
    return plural, prefix, namespaced


class KubeApi:
    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def path(self, resource: str, namespace: str | None = None, name: str | None = None) -> str:
        plural, prefix, namespaced = _resource_info(resource)
        parts = [prefix]
        if namespaced and namespace:
            parts += ["namespaces", urllib.parse.quote(namespace, safe="")]
        parts.append(plural)
        if name:
            parts.append(urllib.parse.quote(name, safe=""))
        return "/" + "/".join(parts)

    def request(self, method: str, path: str, body=None, content_type="application/json",
                query: dict | None = None) -> dict:
        import urllib.request  # lazily: ~40 ms (ssl) that `helm version` does not need
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise _error_from(err) from None
        return json.loads(raw) if raw else {}

    # -- verbs ---------------------------------------------------------------------------
    def get(self, resource: str, namespace: str | None, name: str) -> dict:
        return self.request("GET", self.path(resource, namespace, name))

    def get_or_none(self, resource: str, namespace: str | None, name: str) -> dict | None:
        try:
            return self.get(resource, namespace, name)
        except KubeApiError as err:
            if err.status == 404:
                return None
            raise

    def list(self, resource: str, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        query = {"labelSelector": label_selector} if label_selector else None
        return self.request("GET", self.path(resource, namespace), query=query).get("items") or []

    def create(self, resource: str, namespace: str | None, obj: dict) -> dict:
        return self.request("POST", self.path(resource, namespace), obj)

    def replace(self, resource: str, namespace: str | None, name: str, obj: dict) -> dict:
        return self.request("PUT", self.path(resource, namespace, name), obj)

    def replace_status(self, resource: str, namespace: str | None, name: str, obj: dict) -> dict:
        return self.request("PUT", self.path(resource, namespace, name) + "/status", obj)

    def patch(self, resource: str, namespace: str | None, name: str, patch: dict) -> dict:
        return self.request("PATCH", self.path(resource, namespace, name), patch,
                            content_type="application/merge-patch+json")

    def delete(self, resource: str, namespace: str | None, name: str) -> dict:
        return self.request("DELETE", self.path(resource, namespace, name))


def _error_from(err: "urllib.error.HTTPError") -> KubeApiError:
    raw = err.read() or b""
    reason, message = err.reason or "", raw.decode("utf-8", "replace")
    try:
        body = json.loads(raw)
        if isinstance(body, dict) and body.get("kind") == "Status":
            reason = body.get("reason") or reason
            message = body.get("message") or message
    except ValueError:
        pass
    return KubeApiError(err.code, str(reason), message)
