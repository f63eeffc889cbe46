"""KubeClient: what the suite asks of Kubernetes, over the official `kubernetes` client.

Design notes
- The client is built with `kubernetes.config.new_client_from_config(..., persist_config=False)`
  into a private `Configuration`: no global configuration is touched, so two clients (two
  clusters, or a sandbox and a real one) can live in one process.
- Requests go through that `ApiClient` (its auth, TLS, proxy settings and urllib3 pool) but bodies
  are handled as plain JSON dicts rather than the generated models: the suite targets 1.15-era
  clusters (apiextensions v1beta1, which client 37 has no models for), and dicts keep working
  whatever fields an old or emulated API server omits.
- Every call is recorded in `self.calls` as `(verb, resource)` so that the RBAC the suite needs can
  be compared with what a manifest grants (`rbac_needs()`).
- Errors are mapped to a few exceptions with messages an operator can act on:
  `ClusterUnreachable` (names the API server URL), `KubeForbidden` (names verb, resource and
  namespace), `KubeNotFound`, `KubeApiError`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

__all__ = [
    "KubeError",
    "ClusterUnreachable",
    "KubeForbidden",
    "KubeNotFound",
    "KubeApiError",
    "KubeTimeout",
    "LockHeld",
    "JobStillActive",
    "PodInfo",
    "ServiceInfo",
    "JobInfo",
    "LockInfo",
    "KubeClient",
    "DEFAULT_LOCK",
    "RELEASE_LABEL",
    "SERVICE_LABEL",
    "VERSION_LABEL",
]

RELEASE_LABEL = "choerodon.io/release"
SERVICE_LABEL = "choerodon.io/service"
VERSION_LABEL = "choerodon.io/version"
DEFAULT_LOCK = "c7n-upgrade-lock"
LOCK_PREFIX = "c7n-upgrade/"
CRD_GROUP = "apiextensions.k8s.io"
CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


# --------------------------------------------------------------------------- errors


class KubeError(Exception):
    """Base class of every error this module raises."""


class ClusterUnreachable(KubeError):
    """The API server could not be reached (connection refused, DNS, TLS, ...)."""


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


class LockHeld(KubeError):
    def __init__(self, owner: str, since: str, *, name: str = DEFAULT_LOCK, namespace: str = "", host: str = "", pid: str = ""):
        self.owner = owner
        self.since = since
        self.name = name
        self.namespace = namespace
        self.host = host
        self.pid = pid
        where = f" on host {host}" if host else ""
        pid_s = f" (pid {pid})" if pid else ""
        super().__init__(
            f"another upgrade run holds the lock ConfigMap {namespace}/{name}: owner {owner!r}{where}{pid_s} "
            f"since {since}. Wait for that run to finish; if it is gone and the lock is stale, "
            f"re-run with --break-lock."
        )


class JobStillActive(KubeError):
    """Refusal to delete a hook Job that is still running."""


# --------------------------------------------------------------------------- data


@dataclass
class PodInfo:
    name: str
    ip: Optional[str]
    phase: str
    ready: bool
    version: Optional[str]
    service: Optional[str]
    release: Optional[str]
    deleting: bool
    containers_ready: int = 0
    containers_total: int = 0
    restart_count: int = 0
    conditions: list[dict] = field(default_factory=list)   # [{type, status, reason, message}]
    labels: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)       # "container: reason" for waiting/terminated containers
    node: Optional[str] = None
    created: Optional[str] = None

    def describe(self) -> str:
        conds = ", ".join(f"{c.get('type')}={c.get('status')}" + (f"({c.get('reason')})" if c.get("reason") else "") for c in self.conditions)
        extra = f" waiting=[{'; '.join(self.waiting)}]" if self.waiting else ""
        return (
            f"{self.name}: phase={self.phase} ready={self.ready} containers={self.containers_ready}/{self.containers_total} "
            f"restarts={self.restart_count} version={self.version} ip={self.ip} deleting={self.deleting} "
            f"conditions=[{conds}]{extra}"
        )


@dataclass
class ServiceInfo:
    name: str
    cluster_ip: Optional[str]
    ports: dict[Any, int]                 # by port name (when named) and by port number -> port
    target_ports: dict[Any, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def port(self, key: Any = None) -> int:
        """The port called `key` (name or number), or the only/first port."""
        if key is not None and key in self.ports:
            return self.ports[key]
        if key is not None:
            raise KeyError(f"service {self.name} has no port {key!r} (ports: {sorted(map(str, self.ports))})")
        numbers = [v for k, v in self.ports.items() if isinstance(k, int)]
        if not numbers:
            raise KeyError(f"service {self.name} has no ports")
        return numbers[0]


@dataclass
class JobInfo:
    name: str
    active: int
    succeeded: int
    failed: int
    finished: bool
    condition: Optional[str]              # "Complete" / "Failed" / None
    created: Optional[str] = None
    completion_time: Optional[str] = None

    def describe(self) -> str:
        state = self.condition or ("finished" if self.finished else "running")
        return f"Job {self.name}: {state} (active={self.active}, succeeded={self.succeeded}, failed={self.failed}, created {self.created})"


@dataclass
class LockInfo:
    name: str
    namespace: str
    owner: str
    since: str
    host: str
    pid: str
    broken: Optional["LockInfo"] = None   # the holder whose lock was broken with --break-lock

    @classmethod
    def from_configmap(cls, cm: dict) -> "LockInfo":
        meta = cm.get("metadata") or {}
        ann = meta.get("annotations") or {}
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            owner=ann.get(LOCK_PREFIX + "owner", "?"),
            since=ann.get(LOCK_PREFIX + "since", "?"),
            host=ann.get(LOCK_PREFIX + "host", ""),
            pid=ann.get(LOCK_PREFIX + "pid", ""),
        )


# --------------------------------------------------------------------------- helpers


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _spec_dict(spec: Any) -> dict:
    if hasattr(spec, "model_dump"):
        return spec.model_dump()
    return dict(spec)


def _is_true(conditions: Iterable[dict] | None, ctype: str) -> bool:
    return any(c.get("type") == ctype and str(c.get("status")) == "True" for c in conditions or [])


def _status_message(body: bytes | str) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    except ValueError:
        pass
    return body[:300]


class _Response:
    __slots__ = ("status", "headers", "data")

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes):
        self.status = status
        self.headers = headers
        self.data = data

    def json(self) -> Any:
        return json.loads(self.data.decode("utf-8")) if self.data else None


# --------------------------------------------------------------------------- client


class KubeClient:
    """The suite's view of a Kubernetes namespace."""

    def __init__(
        self,
        kubeconfig: str | os.PathLike | None = None,
        context: str | None = None,
        namespace: str | None = None,
        *,
        api_client: ApiClient | None = None,
        request_timeout: float = 30.0,
    ):
        self.kubeconfig = os.fspath(kubeconfig) if kubeconfig is not None else None
        self.context = context
        self.request_timeout = request_timeout
        self.calls: list[tuple[str, str]] = []
        self._crd_versions: list[str] | None = None
        if api_client is None:
            api_client = self._build_client(self.kubeconfig, context)
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
    def _build_client(cls, kubeconfig: str | None, context: str | None) -> ApiClient:
        cfg = cls._configuration()
        try:
            return kube_config.new_client_from_config(
                config_file=kubeconfig, context=context, persist_config=False, client_configuration=cfg
            )
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

    def __enter__(self) -> "KubeClient":
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
    ) -> _Response:
        self.calls.append((verb, resource))
        url = self.api_server_url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = dict(self.api_client.default_headers)
        headers["Accept"] = accept
        if body is not None:
            headers["Content-Type"] = content_type
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"], path, method, body)
        try:
            raw = self.api_client.rest_client.request(
                method, url, headers=headers, body=body, _request_timeout=timeout or self.request_timeout
            )
            data = raw.read()
        except (urllib3.exceptions.ReadTimeoutError, socket.timeout, TimeoutError) as exc:
            raise KubeTimeout(f"{verb} {resource}: no answer from {self.api_server_url} within {timeout or self.request_timeout}s ({exc})") from None
        except urllib3.exceptions.MaxRetryError as exc:
            if isinstance(exc.reason, urllib3.exceptions.ReadTimeoutError):
                raise KubeTimeout(f"{verb} {resource}: no answer from {self.api_server_url} within {timeout or self.request_timeout}s") from None
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {self.api_server_url}: {exc.reason}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {self.api_server_url}: {exc}") from None
        except ApiException as exc:  # TLS problems come back as ApiException(status=0)
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {self.api_server_url}: {exc.reason}") from None
        resp = _Response(raw.status, raw.headers, data)
        if raise_for_status and not 200 <= resp.status <= 299:
            self._raise(resp, verb, resource, namespace, name)
        return resp

    def _raise(self, resp: _Response, verb: str, resource: str, namespace: str | None, name: str | None) -> None:
        msg = _status_message(resp.data)
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

    # ------------------------------------------------------------------ cluster

    def version_info(self) -> dict:
        return self._request("GET", "/version", verb="get", resource="nonResourceURLs:/version").json() or {}

    def server_version(self) -> str:
        """The API server's gitVersion, e.g. `v1.15.12`."""
        return str(self.version_info().get("gitVersion", ""))

    def server_minor(self) -> int:
        info = self.version_info()
        digits = "".join(ch for ch in str(info.get("minor", "")) if ch.isdigit())
        if digits:
            return int(digits)
        parts = str(info.get("gitVersion", "")).lstrip("v").split(".")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    def namespace_exists(self, ns: str | None = None) -> bool:
        ns = ns or self.namespace
        resp = self._request("GET", f"/api/v1/namespaces/{quote(ns, safe='')}", verb="get", resource="namespaces",
                             raise_for_status=False)
        if resp.status == 404:
            return False
        if not 200 <= resp.status <= 299:
            self._raise(resp, "get", "namespaces", None, ns)
        return True

    # ------------------------------------------------------------------ pods, services

    @staticmethod
    def _pod_info(pod: dict) -> PodInfo:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        labels = meta.get("labels") or {}
        statuses = status.get("containerStatuses") or []
        conditions = [
            {k: c.get(k) for k in ("type", "status", "reason", "message") if c.get(k) is not None}
            for c in status.get("conditions") or []
        ]
        waiting = []
        for cs in statuses:
            state = cs.get("state") or {}
            for key in ("waiting", "terminated"):
                if state.get(key):
                    waiting.append(f"{cs.get('name')}: {key} {state[key].get('reason') or ''}".strip())
        return PodInfo(
            name=meta.get("name", ""),
            ip=status.get("podIP"),
            phase=status.get("phase") or "Unknown",
            ready=_is_true(status.get("conditions"), "Ready"),
            version=labels.get(VERSION_LABEL),
            service=labels.get(SERVICE_LABEL),
            release=labels.get(RELEASE_LABEL),
            deleting=bool(meta.get("deletionTimestamp")),
            containers_ready=sum(1 for cs in statuses if cs.get("ready")),
            containers_total=len(statuses) or len(((pod.get("spec") or {}).get("containers")) or []),
            restart_count=sum(int(cs.get("restartCount") or 0) for cs in statuses),
            conditions=conditions,
            labels=dict(labels),
            waiting=waiting,
            node=(pod.get("spec") or {}).get("nodeName"),
            created=meta.get("creationTimestamp"),
        )

    def list_pods(self, label_selector: str | None = None) -> list[PodInfo]:
        resp = self._request("GET", self._ns_path() + "/pods", verb="list", resource="pods", namespace=self.namespace,
                             query={"labelSelector": label_selector})
        items = (resp.json() or {}).get("items") or []
        pods = [self._pod_info(p) for p in items]
        pods.sort(key=lambda p: (p.created or "", p.name))
        return pods

    def pods_of_release(self, release: str) -> list[PodInfo]:
        """Every pod labelled `choerodon.io/release=<release>` (terminating ones included)."""
        return self.list_pods(f"{RELEASE_LABEL}={release}")

    def service(self, name: str) -> ServiceInfo:
        resp = self._request("GET", self._ns_path() + f"/services/{quote(name, safe='')}", verb="get",
                             resource="services", namespace=self.namespace, name=name)
        svc = resp.json() or {}
        spec = svc.get("spec") or {}
        ports: dict[Any, int] = {}
        targets: dict[Any, Any] = {}
        for p in spec.get("ports") or []:
            number = int(p.get("port"))
            ports[number] = number
            targets[number] = p.get("targetPort", number)
            if p.get("name"):
                ports[p["name"]] = number
                targets[p["name"]] = p.get("targetPort", number)
        return ServiceInfo(
            name=name,
            cluster_ip=spec.get("clusterIP"),
            ports=ports,
            target_ports=targets,
            labels=((svc.get("metadata") or {}).get("labels")) or {},
        )

    # ------------------------------------------------------------------ jobs

    @staticmethod
    def _job_info(job: dict) -> JobInfo:
        meta = job.get("metadata") or {}
        status = job.get("status") or {}
        conds = status.get("conditions") or []
        condition = None
        for ctype in ("Complete", "Failed"):
            if _is_true(conds, ctype):
                condition = ctype
                break
        succeeded = int(status.get("succeeded") or 0)
        return JobInfo(
            name=meta.get("name", ""),
            active=int(status.get("active") or 0),
            succeeded=succeeded,
            failed=int(status.get("failed") or 0),
            finished=succeeded >= 1 or condition is not None,
            condition=condition,
            created=meta.get("creationTimestamp"),
            completion_time=status.get("completionTime"),
        )

    def _jobs_path(self) -> str:
        return f"/apis/batch/v1/namespaces/{quote(self.namespace, safe='')}/jobs"

    def get_job(self, name: str) -> JobInfo | None:
        resp = self._request("GET", self._jobs_path() + f"/{quote(name, safe='')}", verb="get", resource="jobs.batch",
                             namespace=self.namespace, raise_for_status=False, name=name)
        if resp.status == 404:
            return None
        if not 200 <= resp.status <= 299:
            self._raise(resp, "get", "jobs.batch", self.namespace, name)
        return self._job_info(resp.json() or {})

    def hook_jobs(self, names: Iterable[str]) -> list[JobInfo]:
        """The Jobs among `names` that exist (finished or not)."""
        return [job for job in (self.get_job(n) for n in names) if job is not None]

    def finished_hook_jobs(self, names: Iterable[str]) -> list[JobInfo]:
        """The Jobs among `names` that exist and have finished (succeeded >= 1, or Complete/Failed)."""
        return [job for job in self.hook_jobs(names) if job.finished]

    def delete_job(self, name: str) -> JobInfo | None:
        """Delete a finished Job (propagation Background, so its pods go too).

        Raises `JobStillActive` for a Job that is still running; returns None when it is already gone.
        """
        job = self.get_job(name)
        if job is None:
            return None
        if not job.finished:
            raise JobStillActive(
                f"refusing to delete Job {self.namespace}/{name}: it is still running ({job.describe()}); "
                f"wait for it to finish or investigate it first"
            )
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        resp = self._request("DELETE", self._jobs_path() + f"/{quote(name, safe='')}", verb="delete", resource="jobs.batch",
                             namespace=self.namespace, body=body, raise_for_status=False, name=name)
        if resp.status != 404 and not 200 <= resp.status <= 299:
            self._raise(resp, "delete", "jobs.batch", self.namespace, name)
        return job

    # ------------------------------------------------------------------ events, logs

    @staticmethod
    def _event_time(ev: dict) -> str:
        return (
            ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp")
            or ((ev.get("metadata") or {}).get("creationTimestamp")) or ""
        )

    @classmethod
    def _event_line(cls, ev: dict) -> str:
        obj = ev.get("involvedObject") or {}
        count = ev.get("count")
        suffix = f" (x{count})" if count and int(count) > 1 else ""
        return (
            f"{cls._event_time(ev) or '-'} {ev.get('type') or 'Normal'} {ev.get('reason') or ''} "
            f"{obj.get('kind', '?')}/{obj.get('name', '?')}: {(ev.get('message') or '').strip()}{suffix}"
        )

    def _events(self) -> list[dict]:
        resp = self._request("GET", self._ns_path() + "/events", verb="list", resource="events", namespace=self.namespace)
        items = (resp.json() or {}).get("items") or []
        return sorted(items, key=self._event_time)

    def recent_events(self, limit: int = 30) -> list[str]:
        return [self._event_line(ev) for ev in self._events()[-limit:]]

    def pod_log_tail(self, pod: str, lines: int = 50, container: str | None = None) -> str:
        """The last `lines` lines of a pod's log; on any error, a line saying why (never raises)."""
        try:
            resp = self._request(
                "GET", self._ns_path() + f"/pods/{quote(pod, safe='')}/log", verb="get", resource="pods/log",
                namespace=self.namespace, query={"tailLines": lines, "container": container}, accept="*/*",
                raise_for_status=False, name=pod,
            )
        except KubeError as exc:
            return f"(log of pod {pod} unavailable: {exc})"
        if not 200 <= resp.status <= 299:
            return f"(log of pod {pod} unavailable: HTTP {resp.status}: {_status_message(resp.data)})"
        return resp.data.decode("utf-8", "replace")

    # ------------------------------------------------------------------ CRDs

    def crd_api_versions(self, refresh: bool = False) -> list[str]:
        """Versions of apiextensions.k8s.io the server serves, preferred first (e.g. ['v1', 'v1beta1'])."""
        if self._crd_versions is not None and not refresh:
            return list(self._crd_versions)
        resp = self._request("GET", f"/apis/{CRD_GROUP}", verb="get", resource=f"nonResourceURLs:/apis/{CRD_GROUP}",
                             raise_for_status=False)
        versions: list[str] = []
        if 200 <= resp.status <= 299:
            doc = resp.json() or {}
            preferred = ((doc.get("preferredVersion") or {}).get("version"))
            versions = [v.get("version") for v in doc.get("versions") or [] if v.get("version")]
            order = {"v1": 0, "v1beta1": 1}
            versions.sort(key=lambda v: (order.get(v, 2), v))
            if preferred in versions and preferred not in ("v1", "v1beta1"):
                versions.remove(preferred)
                versions.insert(0, preferred)
        elif resp.status not in (404,):
            self._raise(resp, "get", f"nonResourceURLs:/apis/{CRD_GROUP}", None, None)
        self._crd_versions = versions
        return list(versions)

    def get_crd(self, name: str) -> dict | None:
        """The CRD as served (v1 shape if the server serves v1, else v1beta1), or None when absent."""
        versions = [v for v in self.crd_api_versions() if v in ("v1", "v1beta1")] or ["v1", "v1beta1"]
        last: _Response | None = None
        for version in versions:
            resp = self._request("GET", f"/apis/{CRD_GROUP}/{version}/customresourcedefinitions/{quote(name, safe='')}",
                                 verb="get", resource=CRD_RESOURCE, raise_for_status=False, name=name)
            if 200 <= resp.status <= 299:
                return resp.json()
            if resp.status != 404:
                self._raise(resp, "get", CRD_RESOURCE, None, name)
            last = resp
            data = None
            try:
                data = last.json()
            except ValueError:
                pass
            # A Status naming the CRD means "this object does not exist" (every served version agrees).
            if isinstance(data, dict) and (data.get("details") or {}).get("name") == name:
                return None
        return None

    @staticmethod
    def crd_body(spec: Any, api_version: str) -> dict:
        """The CRD object: v1beta1 exactly as the guide's YAML, or the equivalent v1 object."""
        s = _spec_dict(spec)
        if api_version == "v1beta1":
            return {
                "apiVersion": f"{CRD_GROUP}/v1beta1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": s["name"]},
                "spec": {
                    "group": s["group"],
                    "names": dict(s["names"]),
                    "scope": s["scope"],
                    "version": s["version"],
                },
            }
        return {
            "apiVersion": f"{CRD_GROUP}/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": s["name"]},
            "spec": {
                "group": s["group"],
                "names": dict(s["names"]),
                "scope": s["scope"],
                "versions": [
                    {
                        "name": s["version"],
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    }
                ],
            },
        }

    def create_crd(self, spec: Any) -> dict:
        """Create the CRD: the guide's v1beta1 body when v1beta1 is served, else a v1 body."""
        s = _spec_dict(spec)
        versions = self.crd_api_versions()
        api_version = "v1beta1" if "v1beta1" in versions else "v1"
        body = self.crd_body(s, api_version)
        resp = self._request("POST", f"/apis/{CRD_GROUP}/{api_version}/customresourcedefinitions", verb="create",
                             resource=CRD_RESOURCE, body=body, name=s["name"])
        return resp.json() or body

    @staticmethod
    def crd_matches(crd: dict, spec: Any) -> list[str]:
        """Problems between a served CRD (v1 or v1beta1 shape) and the plan's spec; empty = matches."""
        s = _spec_dict(spec)
        problems: list[str] = []
        meta = crd.get("metadata") or {}
        cs = crd.get("spec") or {}
        if s.get("name") and meta.get("name") != s["name"]:
            problems.append(f"metadata.name is {meta.get('name')!r}, expected {s['name']!r}")
        if cs.get("group") != s["group"]:
            problems.append(f"spec.group is {cs.get('group')!r}, expected {s['group']!r}")
        if cs.get("scope") != s["scope"]:
            problems.append(f"spec.scope is {cs.get('scope')!r}, expected {s['scope']!r}")
        names = cs.get("names") or {}
        for key, want in (s.get("names") or {}).items():
            if names.get(key) != want:
                problems.append(f"spec.names.{key} is {names.get(key)!r}, expected {want!r}")
        served: list[str] = []
        if cs.get("versions"):
            served = [v.get("name") for v in cs["versions"] if v.get("served", True)]
        elif cs.get("version"):
            served = [cs["version"]]
        if s["version"] not in served:
            problems.append(f"version {s['version']!r} is not served (served: {served or 'none'})")
        for cond in ((crd.get("status") or {}).get("conditions")) or []:
            if cond.get("type") in ("Established", "NamesAccepted") and str(cond.get("status")) == "False":
                problems.append(f"condition {cond.get('type')}=False: {cond.get('reason') or ''} {cond.get('message') or ''}".strip())
        return problems

    # ------------------------------------------------------------------ lock

    def _cm_path(self, name: str | None = None) -> str:
        path = self._ns_path() + "/configmaps"
        return path + f"/{quote(name, safe='')}" if name else path

    def _lock_body(self, name: str, owner: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "c7n-upgrade"},
                "annotations": {
                    LOCK_PREFIX + "owner": owner,
                    LOCK_PREFIX + "since": _now_iso(),
                    LOCK_PREFIX + "host": socket.gethostname(),
                    LOCK_PREFIX + "pid": str(os.getpid()),
                },
            },
            "data": {"purpose": "Held while a Choerodon upgrade run is in progress. Delete only if that run is gone."},
        }

    def get_lock(self, name: str = DEFAULT_LOCK) -> LockInfo | None:
        resp = self._request("GET", self._cm_path(name), verb="get", resource="configmaps", namespace=self.namespace,
                             raise_for_status=False, name=name)
        if resp.status == 404:
            return None
        if not 200 <= resp.status <= 299:
            self._raise(resp, "get", "configmaps", self.namespace, name)
        return LockInfo.from_configmap(resp.json() or {})

    def acquire_lock(self, name: str = DEFAULT_LOCK, *, owner: str, break_lock: bool = False) -> LockInfo:
        """Take the upgrade lock (a ConfigMap). Raises `LockHeld` naming the holder unless `break_lock`."""
        body = self._lock_body(name, owner)
        resp = self._request("POST", self._cm_path(), verb="create", resource="configmaps", namespace=self.namespace,
                             body=body, raise_for_status=False, name=name)
        if 200 <= resp.status <= 299:
            return LockInfo.from_configmap(resp.json() or body)
        if resp.status != 409:
            self._raise(resp, "create", "configmaps", self.namespace, name)
        current = self._request("GET", self._cm_path(name), verb="get", resource="configmaps", namespace=self.namespace,
                                name=name).json() or {}
        holder = LockInfo.from_configmap(current)
        mine = holder.owner == owner and holder.host == socket.gethostname() and holder.pid == str(os.getpid())
        if mine:
            return holder
        if not break_lock:
            raise LockHeld(holder.owner, holder.since, name=name, namespace=self.namespace, host=holder.host, pid=holder.pid)
        body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        resp = self._request("PUT", self._cm_path(name), verb="update", resource="configmaps", namespace=self.namespace,
                             body=body, raise_for_status=False, name=name)
        if resp.status == 409:  # somebody else changed it in between: do not fight over it
            newer = self.get_lock(name)
            raise LockHeld(newer.owner if newer else "?", newer.since if newer else "?", name=name,
                           namespace=self.namespace, host=newer.host if newer else "", pid=newer.pid if newer else "")
        if not 200 <= resp.status <= 299:
            self._raise(resp, "update", "configmaps", self.namespace, name)
        info = LockInfo.from_configmap(resp.json() or body)
        info.broken = holder
        return info

    def release_lock(self, name: str = DEFAULT_LOCK, *, owner: str) -> bool:
        """Delete the lock if `owner` still holds it. Returns True when deleted."""
        resp = self._request("GET", self._cm_path(name), verb="get", resource="configmaps", namespace=self.namespace,
                             raise_for_status=False, name=name)
        if resp.status == 404:
            return False
        if not 200 <= resp.status <= 299:
            self._raise(resp, "get", "configmaps", self.namespace, name)
        cm = resp.json() or {}
        if LockInfo.from_configmap(cm).owner != owner:
            return False
        uid = (cm.get("metadata") or {}).get("uid")
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid:
            body["preconditions"] = {"uid": uid}
        resp = self._request("DELETE", self._cm_path(name), verb="delete", resource="configmaps", namespace=self.namespace,
                             body=body, raise_for_status=False, name=name)
        if resp.status in (404, 409):
            return False
        if not 200 <= resp.status <= 299:
            self._raise(resp, "delete", "configmaps", self.namespace, name)
        return True

    # ------------------------------------------------------------------ proxy

    def _proxy(self, kind: str, name: str, port: int | str, path: str, timeout: float) -> tuple[int, dict, bytes]:
        path = path or "/"
        query = None
        if "?" in path:
            path, _, qs = path.partition("?")
            query = qs
        target = f"{quote(name, safe='')}:{port}"
        url_path = self._ns_path() + f"/{kind}/{target}/proxy/" + quote(path.lstrip("/"), safe="/:@!$&'()*+,;=-._~")
        if query:
            url_path += "?" + query
        resp = self._request("GET", url_path, verb="get", resource=f"{kind}/proxy", namespace=self.namespace,
                             accept="*/*", timeout=timeout, raise_for_status=False, name=name)
        if resp.status == 403:
            try:
                data = resp.json()
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("kind") == "Status":  # the API server refused, not the pod
                self._raise(resp, "get", f"{kind}/proxy", self.namespace, name)
        return resp.status, dict(resp.headers), resp.data

    def proxy_get(self, pod_name: str, port: int | str, path: str, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        """GET http://<pod>:<port><path> through the API server's pod proxy (access mode `proxy`).

        Returns (status, headers, body) whatever the status: a 503 from /health is an answer.
        """
        return self._proxy("pods", pod_name, port, path, timeout)

    def proxy_service_get(self, service: str, port: int | str, path: str, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        """GET through the API server's service proxy."""
        return self._proxy("services", service, port, path, timeout)
