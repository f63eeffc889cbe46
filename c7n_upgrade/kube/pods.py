"""Pods (with the Choerodon labels), Services, and pod logs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import quote

from .errors import KubeError
from .transport import Transport, is_true, status_message

RELEASE_LABEL = "choerodon.io/release"
SERVICE_LABEL = "choerodon.io/service"
VERSION_LABEL = "choerodon.io/version"


def image_tag(image: str) -> Optional[str]:
    """``registry:5000/choerodon/iam-service:0.9.0`` -> ``0.9.0``; None when the image names no tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


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
    conditions: list[dict] = field(default_factory=list)   # [{type, status, reason, message, lastTransitionTime}]
    labels: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)       # "container: reason" for waiting/terminated containers
    containers: list[ContainerState] = field(default_factory=list)  # each container's state, as the kubelet says
    node: Optional[str] = None
    created: Optional[str] = None
    images: list[str] = field(default_factory=list)        # the containers' images, the main one first

    @property
    def image_tag(self) -> Optional[str]:
        """The tag of the main container's image (None: no tag, e.g. pinned by digest only)."""
        return image_tag(self.images[0]) if self.images else None

    def describe(self) -> str:
        conds = ", ".join(f"{c.get('type')}={c.get('status')}" + (f"({c.get('reason')})" if c.get("reason") else "") for c in self.conditions)
        extra = f" waiting=[{'; '.join(self.waiting)}]" if self.waiting else ""
        return (
            f"{self.name}: phase={self.phase} ready={self.ready} containers={self.containers_ready}/{self.containers_total} "
            f"restarts={self.restart_count} version={self.version} image={self.images[0] if self.images else '?'} "
            f"ip={self.ip} deleting={self.deleting} conditions=[{conds}]{extra}"
        )


@dataclass(frozen=True)
class ContainerState:
    """One container of a pod as its kubelet reports it (`status.containerStatuses[]`)."""

    name: str
    state: str                      # waiting | running | terminated
    reason: str = ""                # ErrImagePull, ImagePullBackOff, CrashLoopBackOff, Error, Completed, ...
    message: str = ""
    exit_code: Optional[int] = None
    restarts: int = 0
    image: str = ""


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


class Pods(Transport):
    @staticmethod
    def _pod_info(pod: dict) -> PodInfo:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        labels = meta.get("labels") or {}
        statuses = status.get("containerStatuses") or []
        conditions = [
            {k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime") if c.get(k) is not None}
            for c in status.get("conditions") or []
        ]
        waiting, containers = [], []
        for cs in statuses:
            state = cs.get("state") or {}
            for key in ("waiting", "terminated"):
                if state.get(key):
                    waiting.append(f"{cs.get('name')}: {key} {state[key].get('reason') or ''}".strip())
            key = next((k for k in ("waiting", "terminated", "running") if state.get(k) is not None), "waiting")
            detail = state.get(key) or {}
            containers.append(ContainerState(
                str(cs.get("name") or ""), key, str(detail.get("reason") or ""), str(detail.get("message") or ""),
                detail.get("exitCode"), int(cs.get("restartCount") or 0), str(cs.get("image") or "")))
        return PodInfo(
            name=meta.get("name", ""),
            ip=status.get("podIP"),
            phase=status.get("phase") or "Unknown",
            ready=is_true(status.get("conditions"), "Ready"),
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
            containers=containers,
            node=(pod.get("spec") or {}).get("nodeName"),
            created=meta.get("creationTimestamp"),
            images=[str(c.get("image") or "") for c in ((pod.get("spec") or {}).get("containers") or [])],
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

    def pod_log_tail(self, pod: str, lines: int = 50, container: str | None = None, previous: bool = False) -> str:
        """The last `lines` lines of a pod's log (`previous`: of its container's last run, as `kubectl logs
        --previous`); on any error, a line saying why (never raises)."""
        query = {"tailLines": lines, "container": container, **({"previous": "true"} if previous else {})}
        try:
            resp = self._request(
                "GET", self._ns_path() + f"/pods/{quote(pod, safe='')}/log", verb="get", resource="pods/log",
                namespace=self.namespace, query=query, accept="*/*", raise_for_status=False, name=pod,
            )
        except KubeError as exc:
            return f"(log of pod {pod} unavailable: {exc})"
        if not 200 <= resp.status <= 299:
            return f"(log of pod {pod} unavailable: HTTP {resp.status}: {status_message(resp.data)})"
        return resp.data.decode("utf-8", "replace")
