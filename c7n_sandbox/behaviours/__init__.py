"""What a sandbox pod answers over HTTP: Spring Boot 1.5 health, go-register-server's registry,
the api-gateway's platform API and the front-end page.

One module per application: health.py (every Spring Boot service), register.py, gateway.py,
front.py; common.py holds what they share. Everything here is a pure function of a ``world`` (the
node's :class:`~c7n_sandbox.node.world.NodeWorld`) and a ``pod`` (its
:class:`~c7n_sandbox.node.world.PodView`). The node's listeners (node/listeners.py) call
:func:`serve` (below); a readiness probe reaches :func:`health` over HTTP.

The world provides::

    world.store, world.namespace
    world.ready_pods(chart, namespace=None) -> list[PodView]     Ready pods of a chart
    world.pod_fault(pod) -> Fault | None                          fault in effect for this pod
    world.upgrading(pod) -> bool                                  a helm upgrade/install of its release has begun
    world.mysql_admin -> dict | None                              {host, port, user, password}
    world.admin_password, world.oauth_client_id, world.oauth_client_secret
    world.tokens -> dict[str, float]                              access token -> expiry (time.time())
    world.memory_clients -> dict[str, dict]                       OAuth clients when there is no MySQL
    world.devops_check_logs -> list[dict]                         devops_check_log rows when there is no MySQL
    world.crd_exists(name) -> bool
    world.log(pod, line)                                          append to the pod's log

Sandbox choices (documented in the report and the decisions file):
- ``GET /iam/v1/organizations/{org}/clients/query_by_name`` answers 200 with an empty body when
  the client does not exist (iam-service 0.9 returns ``ResponseEntity`` of a null DTO).
- A route whose service has no Ready pod answers like Zuul with no instance: 500
  ``{"status":500,"error":"Internal Server Error","message":"Forwarding error",...}``, except the
  devops smooth-upgrade, which answers the brief's ``{"failed":true,"code":"error.service.unavailable"}``.
- ``GET /devops/v1/upgrade`` answers 200 ``text/plain`` with the epoch milliseconds as a string.
"""
from __future__ import annotations

import urllib.parse

from .common import FRONT_CHART, GATEWAY_CHART, REGISTER_CHART, json_answer, not_found
from .front import FRONT_HTML, serve_front
from .gateway import Gateway
from .health import health
from .register import serve_register

__all__ = ["FRONT_HTML", "health", "serve"]


def _main_port(pod) -> int | None:
    return pod.ports[0] if pod.ports else None


def serve(world, pod, port: int, method: str, raw_path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
    """Answer one HTTP request to `pod` on container port `port`."""
    parsed = urllib.parse.urlsplit(raw_path)
    path = parsed.path or "/"
    query = urllib.parse.parse_qs(parsed.query)
    chart = pod.service
    if chart == FRONT_CHART:
        return serve_front(method, path)
    if chart == REGISTER_CHART:
        return serve_register(world, pod, method, path)
    mgmt = pod.metrics_port
    if port == mgmt and method in ("GET", "HEAD"):
        if path == "/health":
            status, hbody = health(world, pod)
            return json_answer(status, hbody)
        if path == "/info":
            return json_answer(200, {"build": {"artifact": chart, "name": chart, "version": pod.version}})
    if port == _main_port(pod):
        if method in ("GET", "HEAD") and path == "/v2/choerodon/api-docs":
            return json_answer(200, {"swagger": "2.0", "info": {"title": f"{chart} api", "version": pod.version},
                                     "basePath": "/", "paths": {}})
        if chart == GATEWAY_CHART:
            return Gateway(world, pod).handle(method, path, query, headers, body)
    return not_found(path)
