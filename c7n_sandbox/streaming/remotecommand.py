"""exec and attach (the remote command protocols), server side, for the API server and the kubelet:

- websocket channel protocols: `v5.channel.k8s.io` (kubectl 1.30+, the Python client; the real API
  server turns it into SPDY before the kubelet) and `v4.channel.k8s.io`, each message led by its
  channel (0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 resize; v5: 255 = a channel closed);
- SPDY/3.1 (spdy.py), `v4.channel.k8s.io`: streams named by their `streamType` header.

What runs is `run(stdin, stdout, stderr) -> exit code`: stdin() gives the client's next bytes (b"" at
its end) or is None; stdout(bytes)/stderr(bytes) send, or are None. It may stream (the kubelet's
processes) or answer at once. The exit code ends the call as a Status.
"""
from __future__ import annotations

import json
import queue
import socket
import threading
from typing import Callable, Optional

from . import spdy
from .portforward import CLOSE_GRACE, close_gracefully, end_later
from .websocket import Closed, Refused, WebSocket

SPDY_PROTOCOLS = ("v4.channel.k8s.io",)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE_SIGNAL = 0, 1, 2, 3, 4, 255
CHUNK = 32 * 1024
STREAM_WAIT = 30.0         # seconds an exec waits for the client's SPDY streams

Run = Callable[[Optional[Callable[[], bytes]], Optional[Callable[[bytes], None]], Optional[Callable[[bytes], None]]], int]


class ExecFailed(Exception):
    """The command could not start: the call ends with this message (500, not an exit code)."""


def spdy_headers(headers, protocols: tuple[str, ...] = SPDY_PROTOCOLS) -> dict:
    """The 101 headers of a SPDY upgrade, with the first protocol of the client's we speak; Refused
    (400 no upgrade, 403 no common protocol) as the real server answers."""
    if not headers.get("Upgrade", "").lower().startswith("spdy/3.1"):
        raise Refused(400, "BadRequest", "Upgrade request required")
    offered = [p.strip() for v in (headers.get_all("X-Stream-Protocol-Version") or []) for p in v.split(",")]
    chosen = next((p for p in offered if p in protocols), None)
    if chosen is None:
        raise Refused(403, "Forbidden", f"protocol negotiation failed: client supports {offered}, "
                                        f"server supports {list(protocols)}")
    return {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": chosen}


def exit_status(code: int | ExecFailed, command: list[str]) -> bytes:
    """The Status an exec ends with (kubectl and the Python client read the exit code here)."""
    if isinstance(code, ExecFailed):
        status = {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {code}",
                  "reason": "InternalError", "details": {"causes": [{"message": str(code)}]}, "code": 500}
        return json.dumps(status, separators=(",", ":")).encode()
    status = {"metadata": {}, "status": "Success"} if code == 0 else {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"[{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    return json.dumps(status, separators=(",", ":")).encode()


def serve_websocket(ws: WebSocket, run: Run, flags: dict, command: list[str]) -> None:
    """A reader thread takes the client's stdin (and notices its close); run() streams the output."""
    stdin: queue.Queue = queue.Queue()

    def read():
        try:
            while True:
                _, message = ws.recv()
                if message[:1] == bytes([STDIN]) and len(message) > 1:
                    stdin.put(message[1:])
                elif message[:2] == bytes([CLOSE_SIGNAL, STDIN]):
                    stdin.put(b"")
        except Closed:
            stdin.put(b"")

    reader = threading.Thread(target=read, name="exec-websocket-in", daemon=True)
    reader.start()

    def sender(channel: int):
        def send(data: bytes) -> None:
            for i in range(0, len(data), CHUNK):
                ws.send(bytes([channel]) + data[i:i + CHUNK])
        return send

    try:
        code = _outcome(run, stdin.get if flags["stdin"] else None, sender(STDOUT) if flags["stdout"] else None,
                        sender(STDERR if not flags["tty"] else STDOUT) if flags["stderr"] else None)
        ws.send(bytes([ERROR]) + exit_status(code, command))
    except Closed:
        pass
    close_gracefully(ws)
    reader.join()         # until the client's close frame, so nothing it has yet to read is reset


def serve_spdy(session: spdy.Session, sock: socket.socket, run: Run, flags: dict, command: list[str]) -> None:
    expected = {"error"} | {k for k in ("stdin", "stdout") if flags[k]} \
        | ({"stderr"} if flags["stderr"] and not flags["tty"] else set()) | ({"resize"} if flags["tty"] else set())
    streams: dict[str, spdy.Stream] = {}
    ready = threading.Event()

    def on_stream(stream: spdy.Stream):
        streams[spdy.stream_type(stream) or ""] = stream
        if expected <= set(streams):
            ready.set()

    def work():
        if ready.wait(STREAM_WAIT) and not session.closed:
            try:
                out = streams.get("stdout")
                err = streams.get("stderr") or (out if flags["tty"] and flags["stderr"] else None)
                code = _outcome(run, streams["stdin"].read if "stdin" in streams else None,
                                out.write if out else None, err.write if err else None)
                for kind in ("stdout", "stderr"):
                    if kind in streams:
                        streams[kind].close()
                streams["error"].write(exit_status(code, command))
                streams["error"].close()
            except (spdy.Closed, OSError):
                pass
        end_later(sock)

    worker = threading.Thread(target=work, name="exec-spdy", daemon=True)
    worker.start()
    session.serve(on_stream)
    ready.set()
    worker.join(CLOSE_GRACE)


def _outcome(run: Run, *streams) -> int | ExecFailed:
    try:
        return run(*streams)
    except ExecFailed as exc:
        return exc
