"""exec and portforward on pods, in each protocol a client of the guide's era or today speaks:

websockets (kubectl 1.30+ exec, the Python client) and SPDY/3.1 (kubectl 1.20; kubectl 1.31+
port-forward tunnels SPDY in a websocket): the protocols are in ..streaming, shared with the node's
kubelet API; this module checks the request as the API server does and answers from the runtime.

The command runs in the runtime (`pods.exec_in_pod`: a few commands, 126 for the rest); forwarded
bytes go to the pod's listener (`pods.pod_address`). `pods` None: an API server without pods (503).
"""
from __future__ import annotations

import socket

from ..streaming import portforward, remotecommand, spdy
from ..streaming.portforward import TUNNEL
from ..streaming.websocket import Refused, Upgrade, WebSocket, is_websocket, negotiate
from .errors import HttpError
from .request import Request


def exec_stream(store, pods, req: Request, namespace: str, name: str):
    pod = store.get("pods", namespace, name)
    command = req.values("command")
    if not command:
        raise HttpError(400, "BadRequest", "you must specify at least 1 command")
    container = _container(pod, req.query.get("container", ""))
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise HttpError(400, "BadRequest", f"cannot exec into a container in a completed pod; current phase is {phase}")
    _check_runnable(pods, pod)
    if not any("running" in (s.get("state") or {}) for s in (pod.get("status") or {}).get("containerStatuses") or []
               if s.get("name") == container):
        raise HttpError(400, "BadRequest", f'unable to upgrade connection: container not found ("{container}")')
    flags = {k: req.query.get(k) in ("true", "1") for k in ("stdin", "stdout", "stderr", "tty")}

    def run(stdin, stdout, stderr) -> int:
        """The runtime answers at once: stdin read to its end first, the output sent whole."""
        code, out, err = pods.exec_in_pod(namespace, name, container, command,
                                          (lambda: _read_all(stdin)) if stdin else None)
        for send, data in ((stdout, out), (stderr, err)):
            if send and data:
                send(data)
        return code

    if is_websocket(req.headers):
        headers = _refusing(negotiate, req.headers, remotecommand.WEBSOCKET_PROTOCOLS)
        return 101, {}, Upgrade(headers, lambda sock, rfile: remotecommand.serve_websocket(
            WebSocket(sock, rfile, headers["Sec-WebSocket-Protocol"]), run, flags, command))
    headers = _refusing(remotecommand.spdy_headers, req.headers)
    return 101, {}, Upgrade(headers, lambda sock, rfile: remotecommand.serve_spdy(
        spdy.Session(spdy.socket_reader(rfile), sock.sendall), sock, run, flags, command))


def portforward_stream(store, pods, req: Request, namespace: str, name: str):
    pod = store.get("pods", namespace, name)
    _check_runnable(pods, pod)
    uid = pod["metadata"].get("uid", "")

    def dial(port: int) -> socket.socket:
        """A connection to the pod's listener; OSError with the kubelet's message when there is none."""
        address = pods.pod_address(namespace, name, port)
        try:
            if address is None:
                raise OSError("the pod is not running")
            conn = socket.create_connection(address, timeout=3)
            conn.settimeout(None)
            return conn
        except OSError as exc:
            raise OSError(f"error forwarding port {port} to pod {name}, uid {uid}: failed to connect to "
                          f"localhost:{port} inside the pod: {exc.strerror or exc}") from None

    if is_websocket(req.headers) and TUNNEL in req.headers.get("Sec-WebSocket-Protocol", ""):
        headers = _refusing(negotiate, req.headers, (TUNNEL,))

        def tunnel(sock, rfile):
            ws = WebSocket(sock, rfile, TUNNEL)
            portforward.serve_spdy(spdy.Session(spdy.websocket_reader(ws), ws.send), dial)
        return 101, {}, Upgrade(headers, tunnel)
    if is_websocket(req.headers):
        ports = _refusing(portforward.ports, req.values("ports") + req.values("port"))
        headers = _refusing(negotiate, req.headers, portforward.PROTOCOLS)
        return 101, {}, Upgrade(headers, lambda sock, rfile: portforward.serve_websocket(
            WebSocket(sock, rfile, headers.get("Sec-WebSocket-Protocol", "")), ports, dial))
    headers = _refusing(remotecommand.spdy_headers, req.headers, (portforward.SPDY_PROTOCOL,))
    return 101, {}, Upgrade(headers, lambda sock, rfile: portforward.serve_spdy(
        spdy.Session(spdy.socket_reader(rfile), sock.sendall), dial))


# ---------------------------------------------------------------------------- checks before switching

def _check_runnable(pods, pod: dict) -> None:
    if not (pod.get("spec") or {}).get("nodeName"):
        raise HttpError(400, "BadRequest", f"pod {pod['metadata']['name']} does not have a host assigned")
    if pods is None:
        raise HttpError(503, "ServiceUnavailable", "this sandbox API server runs no pods")


def _container(pod: dict, wanted: str) -> str:
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    name = pod["metadata"]["name"]
    if not wanted:
        if len(names) != 1:
            raise HttpError(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                               f"choose one of: [{' '.join(names)}]")
        return names[0]
    if wanted not in names:
        raise HttpError(400, "BadRequest", f"container {wanted} is not valid for pod {name}")
    return wanted


def _refusing(check, *args):
    """A shared streaming check, its refusal as this server's HttpError."""
    try:
        return check(*args)
    except Refused as exc:
        raise HttpError(exc.code, exc.reason, exc.message) from None


def _read_all(stdin) -> bytes:
    data = b""
    while chunk := stdin():
        data += chunk
    return data
