"""port-forward, server side, in the protocols clients speak (the API server's and the kubelet's):

- websocket, `v4.channel.k8s.io` (the Python client): per port a data channel (2i) and an error
  channel (2i+1), each opened by the port (2 bytes, little-endian);
- SPDY/3.1 (spdy.py), `portforward.k8s.io`: per forwarded connection a pair of streams (error, data)
  with one requestID (kubectl 1.20; kubectl 1.31+ tunnels it in a websocket, subprotocol
  `SPDY/3.1+portforward.k8s.io`, which the real API server turns back into SPDY for the kubelet).

`dial(port)` -> a connected socket, or OSError with the message the client shows.
"""
from __future__ import annotations

import socket
import struct
import threading

from . import spdy
from .websocket import Closed, Refused, WebSocket

PROTOCOLS = ("v4.channel.k8s.io", "")
SPDY_PROTOCOL = "portforward.k8s.io"
CHUNK = 32 * 1024
MAX_PORTS = 16
CLOSE_GRACE = 2.0          # seconds a client has to close its end once we are done


def ports(values: list[str]) -> list[int]:
    """The `port` (or `ports`) query values: 1 to 16 ports, else Refused (400)."""
    try:
        found = [int(p) for v in values for p in v.split(",") if p.strip()]
    except ValueError:
        raise Refused(400, "BadRequest", f"invalid port in {values}") from None
    if not found or len(found) > MAX_PORTS or not all(0 < p < 65536 for p in found):
        raise Refused(400, "BadRequest", 'query parameter "port" is required: 1 to 16 ports between 1 and 65535')
    return found


def serve_websocket(ws: WebSocket, wanted: list[int], dial) -> None:
    upstreams: dict[int, socket.socket] = {}
    for i, port in enumerate(wanted):
        ws.send(bytes([2 * i]) + struct.pack("<H", port))
        ws.send(bytes([2 * i + 1]) + struct.pack("<H", port))
    for i, port in enumerate(wanted):
        try:
            upstreams[i] = dial(port)
        except OSError as exc:
            ws.send(bytes([2 * i + 1]) + str(exc).encode())
    pumps = [threading.Thread(target=pump, args=(s, lambda data, ch=2 * i: ws.send(bytes([ch]) + data)),
                              name=f"portforward-{wanted[i]}", daemon=True) for i, s in upstreams.items()]
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
    close_gracefully(ws)


def close_gracefully(ws: WebSocket) -> None:
    """Send the close frame; a client that does not answer it within the grace is cut off."""
    ws.close()
    timer = threading.Timer(CLOSE_GRACE, ws.shutdown)
    timer.daemon = True
    timer.start()



def serve_spdy(session: spdy.Session, dial) -> None:
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
    pump(upstream, data.write)
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


def pump(upstream: socket.socket, send) -> None:
    """The pod's bytes to the client, until the pod (or the client) closes."""
    try:
        while data := upstream.recv(CHUNK):
            send(data)
    except (OSError, Closed, spdy.Closed):
        return


def end_later(sock: socket.socket) -> None:
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
