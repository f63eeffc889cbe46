"""How the suite reaches pods and services: HTTP to pod IPs and clusterIPs (`direct`, as the guide's
curl does) or through the API server's proxy (`proxy`); and one observation of a release's rollout."""
from __future__ import annotations

from typing import Optional

import requests

from . import probes, rollout
from .errors import C7nError
from .kube import RELEASE_LABEL
from .parallel import parallel_map
from .plan import Step
from .report import StepFailed
from .settings import HttpAccess


class ServiceUnreachable(C7nError):
    """A Service gave no HTTP answer (direct mode; through the API server it is a `KubeError`)."""


class ClusterAccess:
    def __init__(self, kube, http: HttpAccess):
        self.kube = kube
        self.http = http

    def pod_health(self, pod, port: int, path: str = "/health") -> probes.Health:
        """The pod's `/health`; no answer is status UNREACHABLE, never an exception."""
        if self.http.mode == "proxy":
            try:
                status, _headers, body = self.kube.proxy_get(pod.name, port, path, self.http.timeout)
            except Exception as exc:  # unreachable through the API server
                return probes.Health(status="UNREACHABLE", error=str(exc))
            return probes.parse_health(status, body.decode("utf-8", "replace"))
        if not pod.ip:
            return probes.Health(status="UNREACHABLE", error="pod has no IP yet")
        return probes.get_health(f"http://{pod.ip}:{port}{path}", self.http.timeout)

    def reported_version(self, pod, port: int, path: str = "/info") -> Optional[str]:
        """The version the service in `pod` states at its `/info` (None: it states none, or no answer)."""
        try:
            if self.http.mode == "proxy":
                status, _headers, body = self.kube.proxy_get(pod.name, port, path, self.http.timeout)
                return probes.parse_info_version(status, body)
            if not pod.ip:
                return None
            resp = requests.get(f"http://{pod.ip}:{port}{path}", timeout=self.http.timeout,
                                headers={"Accept": "application/json"}, allow_redirects=False)
            return probes.parse_info_version(resp.status_code, resp.content)
        except Exception:  # no answer is "states nothing"; health and readiness judge reachability
            return None

    def version_problems(self, pods: list, port: Optional[int], version: str) -> list[str]:
        """Pods whose service says it runs another version than `version` ("name: 0.8.0 at /info")."""
        if not port:
            return []
        live = [p for p in pods if not p.deleting]
        said = parallel_map(lambda pod: self.reported_version(pod, port), live)
        return [f"{pod.name} says {v} at /info" for pod, v in zip(live, said) if v is not None and v != version]

    def service_get(self, service: str, port_name_or_number, path: str = "/") -> tuple[int, str]:
        """GET through a Service: its clusterIP in direct mode, the API server proxy otherwise."""
        svc = self.kube.service(service)
        port = _service_port(svc, port_name_or_number)
        if self.http.mode == "proxy":
            status, _h, body = self.kube.proxy_service_get(service, port, path, self.http.timeout)
            return status, body.decode("utf-8", "replace")
        try:
            resp = requests.get(f"http://{svc.cluster_ip}:{port}{path}", timeout=self.http.timeout,
                                headers={"Accept": "application/json, text/html;q=0.9, */*;q=0.5"})
        except requests.RequestException as exc:
            raise ServiceUnreachable(f"{type(exc).__name__}: {exc}") from None
        return resp.status_code, resp.text

    def observe(self, step: Step, release: str, version: str, pods: Optional[list] = None) -> rollout.RolloutState:
        """One observation of the release (`rollout.observe`): its pods, listed now or the `pods` given."""
        port = step.health_port
        probe = (lambda pod: self.pod_health(pod, port)) if port else None
        pods = self.kube.pods_of_release(release) if pods is None else pods
        return rollout.observe(pods, probe, release, version, port)

    def pods_by_release(self) -> dict[str, list]:
        """Every pod carrying a release label, grouped by release: one list call for a whole snapshot."""
        grouped: dict[str, list] = {}
        for pod in self.kube.list_pods(RELEASE_LABEL):
            grouped.setdefault(pod.release, []).append(pod)
        return grouped


def _service_port(svc, wanted) -> int:
    """The Service's port for the plan's port; a single-port Service may serve it on another number
    (the sandbox without root serves port 80 on 8080)."""
    try:
        return svc.port(wanted)
    except KeyError:
        if len(set(svc.ports.values())) == 1:
            return svc.port()
        raise StepFailed(f"service {svc.name} has no port {wanted!r} (ports: {svc.ports})") from None
