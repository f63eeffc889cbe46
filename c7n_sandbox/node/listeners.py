"""What a Choerodon container serves on its pod's loopback IP: an HTTP listener per containerPort that
answers through :mod:`c7n_sandbox.behaviours`, and the rules for its ports (ports below 1024
move 8000 higher without root)."""
from __future__ import annotations

import json
import logging
import random
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .. import behaviours

log = logging.getLogger("c7n_sandbox.node")

UNPRIVILEGED_OFFSET = 8000  # not root: port 80 is served on 8080


def can_bind_privileged() -> bool:
    """Whether this process may bind ports below 1024 (root, CAP_NET_BIND_SERVICE, or a lowered
    net.ipv4.ip_unprivileged_port_start); found out by trying, on a loopback address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((f"127.{random.randrange(1, 255)}.{random.randrange(0, 256)}.{random.randrange(2, 255)}", 1000))
        return True
    except PermissionError:
        return False
    except OSError:  # in use or similar: the permission itself was granted
        return True
    finally:
        s.close()


def running_version(image: str, label: str) -> str:
    """The version a pod really runs: its image's tag when that is a version (an image pinned to 0.8.0
    runs 0.8.0 whatever the chart's label says), else the label."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return tag if re.fullmatch(r"\d+\.\d+\.\d+([.-][\w.]+)?", tag) else label


def bind_port(port: int, privileged: bool) -> int:
    """The port a listener really binds: ports below 1024 move up by 8000 when not root."""
    port = int(port)
    return port if privileged or port >= 1024 else port + UNPRIVILEGED_OFFSET


def resolve_target_port(pod, target) -> int:
    """A Service's targetPort (a number, or a container port's name) on `pod`; else its first port."""
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in pod.spec.get("containers", []):
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return pod.ports[0] if pod.ports else 0


class PodServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # never share an address another listener still holds
    request_queue_size = 64


class PodHandler(BaseHTTPRequestHandler):
    """Serves `server.c7n = (world, pod, port)` through the behaviours."""
    disable_nagle_algorithm = True  # keep-alive answers otherwise wait for the delayed ACK
    server_version = "sandbox-pod"
    sys_version = ""

    def _handle(self):
        world, pod, port = self.server.c7n  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, payload = behaviours.serve(world, pod, port, self.command, self.path,
                                                        dict(self.headers.items()), body)
        except Exception as exc:  # a bug in a behaviour must answer 500, not kill the listener
            log.exception("pod %s: %s %s failed", pod.name, self.command, self.path)
            status, headers, payload = 500, {"Content-Type": "application/json"}, json.dumps(
                {"status": 500, "error": "Internal Server Error", "message": str(exc)}).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def log_message(self, fmt, *args):  # keep the terminal quiet
        pass
