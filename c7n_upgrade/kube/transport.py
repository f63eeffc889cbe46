"""The transport every Kubernetes call goes through: one ApiClient, plain JSON dicts, errors mapped.

- The client is built with `kubernetes.config.load_kube_config(..., client_configuration=cfg)` into a
  private `Configuration` (its certificate files in the run's private directory): no global configuration is touched, so two clients (two
  clusters, or a sandbox and a real one) can live in one process.
- Requests go through that `ApiClient` (its auth, TLS, proxy settings and urllib3 pool) but bodies
  are handled as plain JSON dicts rather than the generated models: the suite targets 1.15-era
  clusters (apiextensions v1beta1, which client 37 has no models for), and dicts keep working
  whatever fields an old API server omits.
- Every call is recorded in `self.calls` as `(verb, resource)` so that the RBAC the suite needs can
  be compared with what a manifest grants (`rbac_needs()`).
- `get_or_none` is the one "GET; None when absent; any other failure raises".
"""
from __future__ import annotations

import json
import os
import socket
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ..bounds import Breaker
from .errors import ClusterUnreachable, KubeApiError, KubeError, KubeForbidden, KubeNotFound, KubeTimeout


def is_true(conditions: Iterable[dict] | None, ctype: str) -> bool:
    """Whether the condition `ctype` (e.g. Ready, Complete) has status True."""
    return any(c.get("type") == ctype and str(c.get("status")) == "True" for c in conditions or [])


def status_message(body: bytes | str) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    except ValueError:
        pass
    return body[:300]


class Response:
    """An API server answer: status, headers, raw body."""

    __slots__ = ("status", "headers", "data")

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes):
        self.status = status
        self.headers = headers
        self.data = data

    def json(self) -> Any:
        return json.loads(self.data.decode("utf-8")) if self.data else None


class Transport:
    """Connection, request recording and error mapping; the API parts of KubeClient build on it."""

    def __init__(
        self,
        kubeconfig: str | os.PathLike | None = None,
        context: str | None = None,
        namespace: str | None = None,
        *,
        api_client: ApiClient | None = None,
        request_timeout: float = 30.0,
        temp_dir: str | os.PathLike | None = None,
    ):
        self.kubeconfig = os.fspath(kubeconfig) if kubeconfig is not None else None
        self.context = context
        self.request_timeout = request_timeout  # seconds per request (connecting: at most 10 of them)
        self.breaker = Breaker(cooldown=max(60.0, 2 * request_timeout))
        #: called before every write but the lock's own (create, update, patch, delete); raises to stop it
        self.before_write: Callable[[str], None] | None = None
        self.calls: list[tuple[str, str]] = []
        if api_client is None:
            api_client = self._build_client(self.kubeconfig, context, temp_dir)
        self.api_client = api_client
        self.namespace = namespace or self._context_namespace() or "default"

    # ------------------------------------------------------------------ construction

    @staticmethod
    def _configuration() -> Configuration:
        cfg = type.__call__(Configuration)  # a fresh object; never the process-wide default
        # Fail fast: one retry on connect, none on read (the waiters retry at their own pace).
        cfg.retries = urllib3.Retry(total=2, connect=1, read=0, status=0, redirect=2, backoff_factor=0.1)
        return cfg

    @classmethod
    def _build_client(cls, kubeconfig: str | None, context: str | None, temp_dir=None) -> ApiClient:
        """`temp_dir`: where the kubernetes client writes the kubeconfig's certificate and key data as files
        (default: the system's temp dir, removed only at a clean exit): a run gives its private directory."""
        cfg = cls._configuration()
        try:
            kube_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                                         persist_config=False,
                                         temp_file_path=os.fspath(temp_dir) if temp_dir is not None else None)
            return ApiClient(configuration=cfg)
        except (ConfigException, OSError) as exc:
            if kubeconfig is None and context is None:
                try:
                    kube_config.load_incluster_config(client_configuration=cfg)
                    return ApiClient(configuration=cfg)
                except ConfigException:
                    pass
            where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise KubeError(f"cannot load kubeconfig {where}" + (f" (context {context})" if context else "") + f": {exc}") from None

    def _context_namespace(self) -> str | None:
        try:
            contexts, active = kube_config.list_kube_config_contexts(self.kubeconfig)
        except Exception:  # no kubeconfig (in-cluster) or unreadable: no default namespace from it
            return None
        chosen = active
        if self.context:
            chosen = next((c for c in contexts if c.get("name") == self.context), active)
        return ((chosen or {}).get("context") or {}).get("namespace")

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def api_server_url(self) -> str:
        return self.api_client.configuration.host.rstrip("/")

    def rbac_needs(self) -> list[tuple[str, str]]:
        """The distinct (verb, resource) pairs used so far, sorted."""
        return sorted(set(self.calls))

    # ------------------------------------------------------------------ transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        namespace: str | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: float | None = None,
        raise_for_status: bool = True,
        name: str | None = None,
        guarded: bool = True,
        trips_breaker: bool = True,
    ) -> Response:
        if guarded and self.before_write is not None and verb not in ("get", "list", "watch"):
            self.before_write(f"{verb} {resource}/{name}" if name else f"{verb} {resource}")
        hung = self.breaker.open_message()
        if hung:
            raise KubeTimeout(f"{verb} {resource}: {hung}")
        self.calls.append((verb, resource))
        url = self.api_server_url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = dict(self.api_client.default_headers)
        headers["Accept"] = accept
        if body is not None:
            headers["Content-Type"] = content_type
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"], path, method, body)
        limit = timeout or self.request_timeout
        try:
            raw = self.api_client.rest_client.request(
                method, url, headers=headers, body=body, _request_timeout=(min(10.0, limit), limit)
            )
            data = raw.read()
        except (urllib3.exceptions.ReadTimeoutError, socket.timeout, TimeoutError):
            raise self._hung(verb, resource, limit, trips_breaker) from None
        except urllib3.exceptions.MaxRetryError as exc:
            if isinstance(exc.reason, urllib3.exceptions.ReadTimeoutError):
                raise self._hung(verb, resource, limit, trips_breaker) from None
            unreachable = f"cannot reach the Kubernetes API server at {self.api_server_url}: {exc.reason}"
            # NewConnectionError (refused, no route) is a ConnectTimeoutError too, for urllib3's history
            if isinstance(exc.reason, urllib3.exceptions.ConnectTimeoutError) and \
                    not isinstance(exc.reason, urllib3.exceptions.NewConnectionError) and trips_breaker:
                self.breaker.trip(unreachable)  # no SYN-ACK within the limit: each attempt would cost it again
            raise ClusterUnreachable(unreachable) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {self.api_server_url}: {exc}") from None
        except ApiException as exc:  # TLS problems come back as ApiException(status=0)
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {self.api_server_url}: {exc.reason}") from None
        resp = Response(raw.status, raw.headers, data)
        if raise_for_status and not 200 <= resp.status <= 299:
            self._raise(resp, verb, resource, namespace, name)
        return resp

    def _hung(self, verb: str, resource: str, limit: float, trips_breaker: bool = True) -> KubeTimeout:
        """No answer in time: trip the breaker (the API server hung), so the next requests fail at once."""
        message = f"the Kubernetes API server at {self.api_server_url} did not answer {verb} {resource} within {limit:g}s"
        if trips_breaker:
            self.breaker.trip(message)
        return KubeTimeout(message)

    def _raise(self, resp: Response, verb: str, resource: str, namespace: str | None, name: str | None) -> None:
        msg = status_message(resp.data)
        what = f"{resource}/{name}" if name else resource
        where = f" in namespace {namespace}" if namespace else " (cluster scope)"
        body = resp.data.decode("utf-8", "replace")[:1000]
        if resp.status == 403:
            raise KubeForbidden(
                f"forbidden: the kubeconfig's user may not {verb} {what}{where} on {self.api_server_url}: {msg}",
                verb, resource, namespace, body,
            )
        if resp.status == 401:
            raise KubeApiError(f"unauthorized at {self.api_server_url} ({verb} {what}): check the kubeconfig credentials: {msg}", 401, "Unauthorized", body)
        if resp.status == 404:
            raise KubeNotFound(f"not found: {what}{where}: {msg}", 404, "NotFound", body)
        raise KubeApiError(f"{verb} {what}{where} failed: HTTP {resp.status}: {msg}", resp.status, None, body)

    def _ns_path(self, namespace: str | None = None) -> str:
        return f"/api/v1/namespaces/{quote(namespace or self.namespace, safe='')}"

    def _get_or_none(self, path: str, *, resource: str, namespace: str | None = None,
                     name: str | None = None) -> Any:
        """GET `path` as JSON; None when it does not exist (404); any other failure raises."""
        resp = self._request("GET", path, verb="get", resource=resource, namespace=namespace,
                             raise_for_status=False, name=name)
        if resp.status == 404:
            return None
        if not 200 <= resp.status <= 299:
            self._raise(resp, "get", resource, namespace, name)
        return resp.json() or {}

    def _delete(self, path: str, body: dict, *, resource: str, name: str, gone: tuple[int, ...] = (404,),
                guarded: bool = True) -> bool:
        """DELETE `path`; False when the answer is one of `gone` (already deleted, precondition failed)."""
        resp = self._request("DELETE", path, verb="delete", resource=resource, namespace=self.namespace,
                             body=body, raise_for_status=False, name=name, guarded=guarded)
        if resp.status in gone:
            return False
        if not 200 <= resp.status <= 299:
            self._raise(resp, "delete", resource, self.namespace, name)
        return True
