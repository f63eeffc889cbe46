"""exec and portforward on pods, in each protocol a client of the guide's era or today speaks:

- websockets, channel protocols (kubectl 1.30+ exec, the Python client): exec on `v5.channel.k8s.io` or
  `v4.channel.k8s.io`, each message led by its channel (0 stdin, 1 stdout, 2 stderr, 3 the final
  Status, 4 resize; v5: 255 = the client closed a channel); portforward on `v4.channel.k8s.io`, per
  port a data channel (2i) and an error channel (2i+1), each opened by the port (2 bytes, little-endian);
- SPDY/3.1 (spdy.py), streams named by their `streamType` header: exec (`v4.channel.k8s.io`, kubectl
  before 1.30) and portforward (`portforward.k8s.io`, kubectl 1.20; kubectl 1.31+ tunnels it in a
  websocket, subprotocol `SPDY/3.1+portforward.k8s.io`).

The command runs in the runtime (`pods.exec_in_pod`: a few commands, 126 for the rest); forwarded
bytes go to the pod's listener (`pods.pod_address`). `pods` None: an API server without pods (503).
"""
from __future__ import annotations

import json
import socket
import struct
import threading

from . import spdy
from .errors import HttpError
from .request import Request
from .websocket import Closed, Upgrade, WebSocket, is_websocket, negotiate

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORTFORWARD_PROTOCOLS = ("v4.channel.k8s.io", "")
SPDY_EXEC_PROTOCOLS = ("v4.channel.k8s.io",)
SPDY_PORTFORWARD = "portforward.k8s.io"
TUNNEL = "SPDY/3.1+portforward.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE_SIGNAL = 0, 1, 2, 3, 4, 255
CHUNK = 32 * 1024
MAX_PORTS = 16
CLOSE_GRACE = 2.0          # seconds a client has to close its end once we are done
STREAM_WAIT = 30.0         # seconds an exec waits for the client's SPDY streams


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

    def execute(stdin):
        code, out, err = pods.exec_in_pod(namespace, name, container, command, stdin)
        return (code, out + err, b"") if flags["tty"] else (code, out, err)

    if is_websocket(req.headers):
        headers = negotiate(req.headers, EXEC_PROTOCOLS)
        return 101, {}, Upgrade(headers, lambda sock, rfile: _exec_websocket(
            WebSocket(sock, rfile, headers["Sec-WebSocket-Protocol"]), execute, flags, command))
    headers = _spdy_headers(req, SPDY_EXEC_PROTOCOLS)
    return 101, {}, Upgrade(headers, lambda sock, rfile: _exec_spdy(
        spdy.Session(spdy.socket_reader(rfile), sock.sendall), sock, execute, flags, command))


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
        headers = negotiate(req.headers, (TUNNEL,))

        def tunnel(sock, rfile):
            ws = WebSocket(sock, rfile, TUNNEL)
            _portforward_spdy(spdy.Session(spdy.websocket_reader(ws), ws.send), dial)
        return 101, {}, Upgrade(headers, tunnel)
    if is_websocket(req.headers):
        ports = _ports(req)
        headers = negotiate(req.headers, PORTFORWARD_PROTOCOLS)
        return 101, {}, Upgrade(headers, lambda sock, rfile: _portforward_websocket(
            WebSocket(sock, rfile, headers.get("Sec-WebSocket-Protocol", "")), ports, dial))
    headers = _spdy_headers(req, (SPDY_PORTFORWARD,))
    return 101, {}, Upgrade(headers, lambda sock, rfile: _portforward_spdy(
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


def _ports(req: Request) -> list[int]:
    try:
        ports = [int(p) for v in req.values("ports") + req.values("port") for p in v.split(",") if p.strip()]
    except ValueError:
        raise HttpError(400, "BadRequest", f"invalid port in {req.values('ports') + req.values('port')}") from None
    if not ports or len(ports) > MAX_PORTS or not all(0 < p < 65536 for p in ports):
        raise HttpError(400, "BadRequest", 'query parameter "port" is required: 1 to 16 ports between 1 and 65535')
    return ports


def _spdy_headers(req: Request, protocols: tuple[str, ...]) -> dict:
    """The 101 headers of a SPDY upgrade, with the first protocol of the client's we speak."""
    if not req.headers.get("Upgrade", "").lower().startswith("spdy/3.1"):
        raise HttpError(400, "BadRequest", "Upgrade request required")
    offered = [p.strip() for v in (req.headers.get_all("X-Stream-Protocol-Version") or []) for p in v.split(",")]
    chosen = next((p for p in offered if p in protocols), None)
    if chosen is None:
        raise HttpError(403, "Forbidden", f"protocol negotiation failed: client supports {offered}, "
                                          f"server supports {list(protocols)}")
    return {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": chosen}


def _exit_status(code: int, command: list[str]) -> bytes:
    """The Status the kubelet ends an exec with (kubectl and the Python client read the exit code here)."""
    status = {"metadata": {}, "status": "Success"} if code == 0 else {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"[{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    return json.dumps(status, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------- websocket channel protocols

def _exec_websocket(ws: WebSocket, execute, flags: dict, command: list[str]) -> None:
    code, out, err = execute((lambda: _read_stdin(ws)) if flags["stdin"] else None)
    for channel, data, wanted in ((STDOUT, out, flags["stdout"]), (STDERR, err, flags["stderr"])):
        for i in range(0, len(data) if wanted else 0, CHUNK):
            ws.send(bytes([channel]) + data[i:i + CHUNK])
    ws.send(bytes([ERROR]) + _exit_status(code, command))
    _close(ws)
    try:                 # wait for the client's close frame, so that nothing it has yet to read is reset
        while True:
            ws.recv()
    except Closed:
        pass


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


def _portforward_websocket(ws: WebSocket, ports: list[int], dial) -> None:
    upstreams: dict[int, socket.socket] = {}
    for i, port in enumerate(ports):
        ws.send(bytes([2 * i]) + struct.pack("<H", port))
        ws.send(bytes([2 * i + 1]) + struct.pack("<H", port))
    for i, port in enumerate(ports):
        try:
            upstreams[i] = dial(port)
        except OSError as exc:
            ws.send(bytes([2 * i + 1]) + str(exc).encode())
    pumps = [threading.Thread(target=_pump, args=(s, lambda data, ch=2 * i: ws.send(bytes([ch]) + data)),
                              name=f"portforward-{ports[i]}", daemon=True) for i, s in upstreams.items()]
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


# ---------------------------------------------------------------------------- SPDY

def _exec_spdy(session: spdy.Session, sock: socket.socket, execute, flags: dict, command: list[str]) -> None:
    expected = {"error"} | {k for k in ("stdin", "stdout") if flags[k]} \
        | ({"stderr"} if flags["stderr"] and not flags["tty"] else set()) | ({"resize"} if flags["tty"] else set())
    streams: dict[str, spdy.Stream] = {}
    ready = threading.Event()

    def on_stream(stream: spdy.Stream):
        streams[spdy.stream_type(stream) or ""] = stream
        if expected <= set(streams):
            ready.set()

    def run():
        if ready.wait(STREAM_WAIT):
            code, out, err = execute(_reader(streams["stdin"]) if "stdin" in streams else None)
            for kind, data in (("stdout", out), ("stderr", err)):
                if kind in streams:
                    streams[kind].write(data)
                    streams[kind].close()
            streams["error"].write(_exit_status(code, command))
            streams["error"].close()
        _end_later(sock)

    worker = threading.Thread(target=run, name="exec-spdy", daemon=True)
    worker.start()
    session.serve(on_stream)
    ready.set()
    worker.join(CLOSE_GRACE)


def _reader(stream: spdy.Stream):
    def read_all() -> bytes:
        data = b""
        while chunk := stream.read():
            data += chunk
        return data
    return read_all


def _portforward_spdy(session: spdy.Session, dial) -> None:
    """Each forwarded connection is a pair of streams (error, data) with one requestID."""
    pairs: dict[str, dict[str, spdy.Stream]] = {}
    workers: list[threading.Thread] = []

    def on_stream(stream: spdy.Stream):
        pair = pairs.setdefault(stream.headers.get("requestid", stream.headers.get("port", "")), {})
        pair[spdy.stream_type(stream) or ""] = stream
        if "data" in pair and "error" in pair:
            pairs.pop(stream.headers.get("requestid", stream.headers.get("port", "")), None)
            worker = threading.Thread(target=_forward, args=(pair["data"], pair["error"], dial),
                                      name="portforward-spdy", daemon=True)
            workers.append(worker)
            worker.start()

    session.serve(on_stream)
    for worker in workers:
        worker.join(CLOSE_GRACE)


def _forward(data: spdy.Stream, error: spdy.Stream, dial) -> None:
    try:
        upstream = dial(int(data.headers.get("port", "0")))
    except (OSError, ValueError) as exc:
        error.write(str(exc).encode())
        error.close()
        data.close()
        return
    inbound = threading.Thread(target=_feed, args=(data, upstream), name="portforward-in", daemon=True)
    inbound.start()
    _pump(upstream, data.write)
    for stream in (data, error):
        stream.close()
    _shutdown(upstream)
    inbound.join(CLOSE_GRACE)


def _feed(stream: spdy.Stream, upstream: socket.socket) -> None:
    """The client's bytes to the pod; its half-close becomes ours."""
    try:
        while chunk := stream.read():
            upstream.sendall(chunk)
        upstream.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# ---------------------------------------------------------------------------- shared

def _pump(upstream: socket.socket, send) -> None:
    """The pod's bytes to the client, until the pod (or the client) closes."""
    try:
        while data := upstream.recv(CHUNK):
            send(data)
    except (OSError, Closed, spdy.Closed):
        return


def _end_later(sock: socket.socket) -> None:
    """A client that has not closed its end within the grace is cut off."""
    def end():
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    timer = threading.Timer(CLOSE_GRACE, end)
    timer.daemon = True
    timer.start()


def _shutdown(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
