"""Readiness, liveness and startup probes as the kubelet runs them: HTTP GET, TCP and exec, with
initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and failureThreshold."""
from __future__ import annotations

import http.client
import socket
import ssl

from .process import run_probe_command


class Probe:
    def __init__(self, kind: str, spec: dict, started: float):
        self.kind = kind  # Readiness | Liveness | Startup
        self.spec = spec
        self.delay = spec.get("initialDelaySeconds", 0) or 0
        self.period = spec.get("periodSeconds", 10) or 10
        self.timeout = spec.get("timeoutSeconds", 1) or 1
        self.success_threshold = spec.get("successThreshold", 1) or 1
        self.failure_threshold = spec.get("failureThreshold", 3) or 3
        self.next_at = started + self.delay
        self.successes = self.failures = 0
        self.result: bool | None = None  # None until the thresholds decide

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def run(self, now: float, pod_ip: str, ports: dict[str, int], env: dict, cwd) -> tuple[bool, str]:
        """One try; updates the counters and result. Returns (passed, failure message)."""
        self.next_at = now + self.period
        ok, message = check(self.spec, pod_ip, ports, env, cwd, self.timeout)
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.failure_threshold:
                self.result = False
        return ok, message


def _port(value, ports: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    if str(value).isdigit():
        return int(value)
    return ports.get(value, 0)


def check(spec: dict, pod_ip: str, ports: dict[str, int], env: dict, cwd, timeout: float) -> tuple[bool, str]:
    if "exec" in spec:
        argv = spec["exec"].get("command") or []
        code, output = run_probe_command(argv, env, cwd, timeout)
        if code == 0:
            return True, ""
        return False, output.strip() or f"command {argv!r} exited with {code}"
    if "tcpSocket" in spec:
        host = spec["tcpSocket"].get("host") or pod_ip
        port = _port(spec["tcpSocket"].get("port"), ports)
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True, ""
        except OSError as exc:
            return False, f"dial tcp {host}:{port}: {_go_error(exc)}"
    if "httpGet" in spec:
        get = spec["httpGet"]
        host = get.get("host") or pod_ip
        port = _port(get.get("port"), ports)
        path = get.get("path") or "/"
        scheme = (get.get("scheme") or "HTTP").lower()
        url = f"{scheme}://{host}:{port}{path}"
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        headers.setdefault("User-Agent", "kube-probe/1.34")
        try:
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                   context=ssl._create_unverified_context())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.request("GET", path, headers=headers)
            status = conn.getresponse().status
            conn.close()
        except socket.timeout:
            return False, (f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting '
                           "headers)")
        except OSError as exc:
            return False, f'Get "{url}": dial tcp {host}:{port}: {_go_error(exc)}'
        if 200 <= status < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {status}"
    return True, ""  # a probe with no handler: the API server refuses it, nothing to run


def _go_error(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(exc, socket.timeout):
        return "i/o timeout"
    return f"connect: {exc.strerror or exc}".lower()
