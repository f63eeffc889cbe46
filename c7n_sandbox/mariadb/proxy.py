"""The TCP proxy in front of MariaDB that clients use, so the db-down fault can make MySQL refuse."""

from __future__ import annotations

import socket
import threading

from ..tcp import accept_loop, close_hard, splice


class TcpProxy:
    """A threaded TCP forwarder ``listen_host:<port> -> target_host:target_port``.

    ``refuse(True)`` closes the listening socket (new connections get ECONNREFUSED, which PyMySQL
    reports at once as error 2003 "Can't connect to MySQL server") and cuts every open connection.
    ``refuse(False)`` listens again on the same port.
    """

    def __init__(self, listen_host: str, target_host: str, target_port: int, listen_port: int = 0):
        self.listen_host = listen_host
        self.target_host = target_host
        self.target_port = target_port
        self.port = listen_port
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._refusing = False
        self._stopped = True

    @property
    def refusing(self) -> bool:
        return self._refusing

    @property
    def address(self) -> tuple[str, int]:
        return self.listen_host, self.port

    def start(self) -> "TcpProxy":
        with self._lock:
            self._stopped = False
            if not self._refusing:
                self._listen()
        return self

    def _listen(self) -> None:
        if self._listener is not None:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.listen_host, self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._listener = s
        t = threading.Thread(target=accept_loop, args=(s, self._pump), name=f"tcpproxy-{self.port}", daemon=True)
        self._accept_thread = t
        t.start()

    def _close_listener(self) -> None:
        s, self._listener = self._listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
            except OSError:
                pass
            s.close()
        t, self._accept_thread = self._accept_thread, None
        if t is not None and t is not threading.current_thread():
            t.join(2)

    def _cut_all(self) -> None:
        conns, self._conns = self._conns, set()
        for c in conns:
            close_hard(c)

    def refuse(self, on: bool) -> None:
        with self._lock:
            self._refusing = bool(on)
            if self._stopped:
                return
            if on:
                self._close_listener()
                self._cut_all()
            else:
                self._listen()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._close_listener()
            self._cut_all()

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _pump(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.target_host, self.target_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            if self._refusing or self._stopped:
                client.close()
                upstream.close()
                return
            self._conns.update((client, upstream))
        splice(client, upstream, self._lock, self._conns)
