"""SPDY/3.1, server side, as kubectl's exec and port-forward speak it (through moby/spdystream): over
an upgraded HTTP connection (kubectl before 1.30) or tunnelled in websocket messages (kubectl 1.31+
port-forward, subprotocol `SPDY/3.1+portforward.k8s.io`).

Only what those clients use: streams the client opens (SYN_STREAM, answered with SYN_REPLY), DATA
with FIN, RST_STREAM, PING (echoed), GOAWAY. Header blocks are zlib-compressed with the SPDY/3
dictionary, one compression context per direction. spdystream does no flow control, so neither do we.
"""
from __future__ import annotations

import struct
import threading
import zlib
from typing import Callable, Optional

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_REFUSED, RST_CANCEL = 3, 5

_WORDS = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
          "accept-ranges age allow authorization cache-control connection content-base content-encoding "
          "content-language content-length content-location content-md5 content-range content-type date etag "
          "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
          "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
          "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
          "method get status 200_OK version HTTP/1.1 url public set-cookie keep-alive origin")
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    """The SPDY/3 header-compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): length-prefixed
    header names and values, then common strings."""
    words = [w.replace("_", " ") for w in _WORDS.split()]
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + _TAIL.encode()


DICTIONARY = _dictionary()


class Closed(Exception):
    """The connection ended."""


class Stream:
    """One stream the client opened: its headers, what it sent (until FIN), and our writes to it."""

    def __init__(self, session: "Session", stream_id: int, headers: dict[str, str]):
        self.session, self.id, self.headers = session, stream_id, headers
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self.remote_closed = False
        self.local_closed = False

    def feed(self, data: bytes, fin: bool) -> None:
        with self._cond:
            self._buffer += data
            self.remote_closed = self.remote_closed or fin
            self._cond.notify_all()

    def read(self, n: int = 65536) -> bytes:
        """Up to n bytes the client sent; b"" once it has closed its side (or the connection ended)."""
        with self._cond:
            while not self._buffer and not self.remote_closed:
                self._cond.wait(1.0)
                if self.session.closed:
                    self.remote_closed = True
            data = bytes(self._buffer[:n])
            del self._buffer[:n]
            return data

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), 32 * 1024):
            self.session.send_data(self.id, data[i:i + 32 * 1024])

    def close(self) -> None:
        """Half-close: nothing more from us (DATA with FIN)."""
        if not self.local_closed:
            self.local_closed = True
            self.session.send_data(self.id, b"", fin=True)


class Session:
    """The server side of one SPDY connection over a byte stream: read_exact(n) -> bytes (Closed at
    the end), write(bytes). serve() reads frames until the connection ends."""

    def __init__(self, read_exact: Callable[[int], bytes], write: Callable[[bytes], None], max_streams: int = 32):
        self._read, self._write = read_exact, write
        self._write_lock = threading.Lock()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         zdict=DICTIONARY)
        self.streams: dict[int, Stream] = {}
        self.max_streams = max_streams
        self.closed = False

    def serve(self, on_stream: Callable[[Stream], None]) -> None:
        """Frames until the client goes away; on_stream(stream) for each stream it opens (must not block)."""
        try:
            while not self.closed:
                head = self._read(8)
                word, length = struct.unpack(">II", head)
                flags, length = length >> 24, length & 0xFFFFFF
                payload = self._read(length) if length else b""
                if word & 0x80000000:
                    self._control(word & 0xFFFF, flags, payload, on_stream)
                else:
                    stream = self.streams.get(word & 0x7FFFFFFF)
                    if stream is not None:
                        stream.feed(payload, bool(flags & FLAG_FIN))
        except (Closed, OSError, zlib.error, struct.error):
            pass
        finally:
            self.closed = True
            for stream in list(self.streams.values()):
                stream.feed(b"", True)

    def _control(self, kind: int, flags: int, payload: bytes, on_stream) -> None:
        if kind == SYN_STREAM:
            stream_id = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            headers = self._headers(payload[10:])
            self.streams = {i: s for i, s in self.streams.items() if not (s.remote_closed and s.local_closed)}
            if len(self.streams) >= self.max_streams:
                self._control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, RST_REFUSED))
                return
            stream = Stream(self, stream_id, headers)
            self.streams[stream_id] = stream
            stream.feed(b"", bool(flags & FLAG_FIN))
            self._control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._header_block({}))
            on_stream(stream)
        elif kind == RST_STREAM:
            stream = self.streams.pop(struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF, None)
            if stream is not None:
                stream.local_closed = True
                stream.feed(b"", True)
        elif kind == PING:
            self._control_frame(PING, 0, payload)
        elif kind == GOAWAY:
            self.closed = True
        elif kind == HEADERS:
            self._headers(payload[4:])          # keep the decompression context in step

    def send_data(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        self._send(struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data)

    def _control_frame(self, kind: int, flags: int, payload: bytes) -> None:
        self._send(struct.pack(">HHI", 0x8000 | 3, kind, (flags << 24) | len(payload)) + payload)

    def _send(self, frame: bytes) -> None:
        with self._write_lock:
            self._write(frame)

    def _headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        count, pos, headers = struct.unpack(">I", raw[:4])[0], 4, {}
        for _ in range(count):
            n = struct.unpack(">I", raw[pos:pos + 4])[0]
            name, pos = raw[pos + 4:pos + 4 + n].decode("latin-1").lower(), pos + 4 + n
            n = struct.unpack(">I", raw[pos:pos + 4])[0]
            value, pos = raw[pos + 4:pos + 4 + n].decode("latin-1"), pos + 4 + n
            headers[name] = value.split("\x00")[0]
        return headers

    def _header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers)) + b"".join(
            struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode() for k, v in headers.items())
        # one compression context: only serve()'s thread sends header blocks, so they leave in order
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def socket_reader(rfile) -> Callable[[int], bytes]:
    def read_exact(n: int) -> bytes:
        data = rfile.read(n)
        if data is None or len(data) < n:
            raise Closed()
        return data
    return read_exact


def stream_type(stream: Stream) -> Optional[str]:
    return stream.headers.get("streamtype")
