"""exec and portforward on pods, over the websocket protocols kubectl 1.30+ and the Python client speak.

exec (`v5.channel.k8s.io`, `v4.channel.k8s.io`): each message starts with its channel, 0 stdin,
1 stdout, 2 stderr, 3 the final Status, 4 resize; v5 adds 255 (the client closed a channel). The
command runs in the runtime (`pods.exec_in_pod`), which answers a few commands and exits 126 for
the rest. portforward (`v4.channel.k8s.io`): per port a data channel (2i) and an error channel
(2i+1), each opened by the port number (2 bytes, little-endian); the data goes to the pod's
listener (`pods.pod_address`). SPDY, which kubectl before 1.30 speaks, is not served.

`pods` is the runtime (None: an API server without pods answers 503).
"""
from __future__ import annotations

import json
import socket
import struct
import threading

from .errors import HttpError
from .request import Request
from .websocket import BINARY, Closed, Upgrade, WebSocket, is_websocket, negotiate

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORTFORWARD_PROTOCOLS = ("v4.channel.k8s.io", "")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE_SIGNAL = 0, 1, 2, 3, 4, 255
CHUNK = 32 * 1024
MAX_PORTS = 16
CLOSE_GRACE = 2.0          # seconds a client has to answer our close frame
SPDY_ABSENT = ("the sandbox serves exec, attach and port-forward over websockets only (kubectl 1.30+, the "
               "Python client); this client asked for SPDY (Upgrade: {upgrade}), which the sandbox does not speak")


def exec_stream(store, pods, req: Request, namespace: str, name: str):
    pod = store.get("pods", namespace, name)
    command = req.values("command")
    if not command:
        raise HttpError(400, "BadRequest", "you must specify at least 1 command")
    container = _container(pod, req.query.get("container", ""))
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise HttpError(400, "BadRequest", f"cannot exec into a container in a completed pod; current phase is {phase}")
    headers = _upgrade_headers(pods, pod, req, EXEC_PROTOCOLS)
    flags = {k: req.query.get(k) in ("true", "1") for k in ("stdin", "stdout", "stderr", "tty")}

    def run(ws: WebSocket):
        stdin = (lambda: _read_stdin(ws)) if flags["stdin"] else None
        code, out, err = pods.exec_in_pod(namespace, name, container, command, stdin)
        if flags["tty"]:
            out, err = out + err, b""
        for channel, data, wanted in ((STDOUT, out, flags["stdout"]), (STDERR, err, flags["stderr"])):
            for i in range(0, len(data) if wanted else 0, CHUNK):
                ws.send(bytes([channel]) + data[i:i + CHUNK])
        ws.send(bytes([ERROR]) + json.dumps(_exit_status(code, command), separators=(",", ":")).encode())
        _close(ws)
        try:                 # wait for the client's close frame, so that nothing it has yet to read is reset
            while True:
                ws.recv()
        except Closed:
            pass

    return 101, {}, Upgrade(headers, run)


def portforward_stream(store, pods, req: Request, namespace: str, name: str):
    pod = store.get("pods", namespace, name)
    try:
        ports = [int(p) for v in req.values("ports") + req.values("port") for p in v.split(",") if p.strip()]
    except ValueError:
        raise HttpError(400, "BadRequest", f"invalid port in {req.values('ports') + req.values('port')}") from None
    if not ports or len(ports) > MAX_PORTS or not all(0 < p < 65536 for p in ports):
        raise HttpError(400, "BadRequest", 'query parameter "port" is required: 1 to 16 ports between 1 and 65535')
    headers = _upgrade_headers(pods, pod, req, PORTFORWARD_PROTOCOLS)
    uid = pod["metadata"].get("uid", "")

    def run(ws: WebSocket):
        upstreams: dict[int, socket.socket] = {}
        for i, port in enumerate(ports):
            ws.send(bytes([2 * i]) + struct.pack("<H", port))
            ws.send(bytes([2 * i + 1]) + struct.pack("<H", port))
        for i, port in enumerate(ports):
            address = pods.pod_address(namespace, name, port)
            try:
                if address is None:
                    raise OSError("the pod has no IP (not running)")
                upstreams[i] = socket.create_connection(address, timeout=3)
                upstreams[i].settimeout(None)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                ws.send(bytes([2 * i + 1]) + (f"error forwarding port {port} to pod {name}, uid {uid}: failed to "
                                              f"connect to localhost:{port} inside the pod: {reason}").encode())
        pumps = [threading.Thread(target=_pump, args=(ws, 2 * i, s), name=f"portforward-{name}-{ports[i]}",
                                  daemon=True) for i, s in upstreams.items()]
        for t in pumps:
            t.start()
        threading.Thread(target=_close_when_done, args=(ws, pumps), daemon=True).start()
        try:
            while True:
                _, message = ws.recv()
                if message and message[0] % 2 == 0 and message[0] // 2 in upstreams:
                    upstreams[message[0] // 2].sendall(message[1:])
        except (Closed, OSError):
            pass
        finally:
            for s in upstreams.values():
                _shutdown(s)
            for t in pumps:
                t.join(CLOSE_GRACE)

    return 101, {}, Upgrade(headers, run)


def _upgrade_headers(pods, pod: dict, req: Request, protocols) -> dict:
    """Checks every stream request makes before switching protocols; the 101 headers."""
    name = pod["metadata"]["name"]
    if not (pod.get("spec") or {}).get("nodeName"):
        raise HttpError(400, "BadRequest", f"pod {name} does not have a host assigned")
    if pods is None:
        raise HttpError(503, "ServiceUnavailable", "this sandbox API server runs no pods")
    if not is_websocket(req.headers):
        upgrade = req.headers.get("Upgrade", "")
        if upgrade:
            raise HttpError(400, "BadRequest", SPDY_ABSENT.format(upgrade=upgrade))
        raise HttpError(400, "BadRequest", "Upgrade request required")
    return negotiate(req.headers, protocols)


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


def _exit_status(code: int, command: list[str]) -> dict:
    """The Status the kubelet ends an exec with (the Python client and kubectl read the exit code here)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _read_stdin(ws: WebSocket) -> bytes:
    """Everything the client sends on stdin until it closes it (v5) or the websocket."""
    data = b""
    try:
        while True:
            _, message = ws.recv()
            if message[:1] == bytes([STDIN]):
                data += message[1:]
            elif message[:2] == bytes([CLOSE_SIGNAL, STDIN]):
                return data
    except Closed:
        return data


def _pump(ws: WebSocket, channel: int, upstream: socket.socket) -> None:
    """The pod's bytes to the client on `channel`, until the pod (or the client) closes."""
    try:
        while True:
            data = upstream.recv(CHUNK)
            if not data:
                return
            ws.send(bytes([channel]) + data, BINARY)
    except (OSError, Closed):
        return


def _close_when_done(ws: WebSocket, pumps: list[threading.Thread]) -> None:
    """Every pod connection has ended: close the websocket (the client flushes, then answers)."""
    for t in pumps:
        t.join()
    _close(ws)


def _close(ws: WebSocket) -> None:
    """Send the close frame; a client that does not answer it within the grace is cut off."""
    ws.close()
    timer = threading.Timer(CLOSE_GRACE, ws.shutdown)
    timer.daemon = True
    timer.start()


def _shutdown(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
