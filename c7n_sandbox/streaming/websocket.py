"""RFC 6455 websockets, server side, enough for the Kubernetes streaming protocols: the handshake,
framing (client frames masked, ours not), ping/pong and the closing handshake; and the 101 answer
(Upgrade) that hands a connection over to a websocket or SPDY."""
from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from typing import Callable, Optional


GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 16 * 1024 * 1024


class Closed(Exception):
    """The peer closed the websocket (or the connection)."""


class Refused(Exception):
    """A stream request we cannot switch: the HTTP answer (code, reason as in a Status, message)."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


class Upgrade:
    """An answer that switches protocols (websocket or SPDY): the HTTP handler sends the 101 with these
    headers, then `run(sock, rfile)` owns the connection until it returns."""

    def __init__(self, headers: dict, run: Callable[[socket.socket, object], None]):
        self.headers, self.run = headers, run


def is_websocket(headers) -> bool:
    return (headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in headers.get("Connection", "").lower())


def negotiate(headers, supported: tuple[str, ...]) -> dict:
    """The 101 headers for a websocket request, choosing the first of our protocols the client offers;
    400 BadRequest (as the real server answers) when there is none in common."""
    key = headers.get("Sec-WebSocket-Key", "")
    if not key or headers.get("Sec-WebSocket-Version", "") != "13":
        raise Refused(400, "BadRequest", "websocket: missing Sec-WebSocket-Key or unsupported version")
    offered = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    chosen = next((p for p in supported if p in offered), None)
    if chosen is None:
        raise Refused(400, "BadRequest", f"unable to upgrade: unable to negotiate protocol: client supports "
                                           f"{offered}, server supports {list(supported)}")
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    return {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept,
            "Sec-WebSocket-Protocol": chosen}


class WebSocket:
    """One server-side websocket over an HTTP connection (reads through the handler's rfile, which
    may already hold bytes the client sent right after the handshake)."""

    def __init__(self, sock: socket.socket, rfile, protocol: str):
        self.sock, self.rfile, self.protocol = sock, rfile, protocol
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, payload: bytes, opcode: int = BINARY) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([n])
        elif n < 1 << 16:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        with self._send_lock:
            if self.closed and opcode != CLOSE:
                raise Closed()
            try:
                self.sock.sendall(header + payload)
            except OSError as exc:
                self.closed = True
                raise Closed() from exc

    def recv(self) -> tuple[int, bytes]:
        """The next data message (opcode, payload); answers pings; Closed at the end."""
        message, message_opcode = b"", None
        while True:
            fin, opcode, payload = self._frame()
            if opcode == CLOSE:
                self.close(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000)
                raise Closed()
            if opcode == PING:
                self.send(payload, PONG)
                continue
            if opcode == PONG:
                continue
            if opcode != CONTINUATION:
                message_opcode, message = opcode, b""
            message += payload
            if len(message) > MAX_MESSAGE:
                self.close(1009)
                raise Closed()
            if fin and message_opcode is not None:
                return message_opcode, message

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (once) and stop reading and writing."""
        with self._send_lock:
            if self.closed:
                return
            self.closed = True
        try:
            payload = struct.pack("!H", code) + reason.encode()[:120]
            self.sock.sendall(bytes([0x80 | CLOSE, len(payload)]) + payload)
        except OSError:
            pass

    def shutdown(self) -> None:
        """End the connection now (a reader blocked in recv() gets Closed)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            try:
                chunk = self.rfile.read(n - len(data))
            except (OSError, ValueError) as exc:
                raise Closed() from exc
            if not chunk:
                raise Closed()
            data += chunk
        return data

    def _frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        if n > MAX_MESSAGE:
            self.close(1009)
            raise Closed()
        mask: Optional[bytes] = self._read(4) if b1 & 0x80 else None
        payload = self._read(n) if n else b""
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 64 else _unmask(payload, mask)
        return bool(b0 & 0x80), b0 & 0x0F, payload


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask, a machine word at a time."""
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")
