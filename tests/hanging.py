"""A TCP server on loopback that accepts connections and never answers (a hung API server, MySQL or
gateway), counting the connections; the test closes it (and its thread ends with it)."""
from __future__ import annotations

import socket
import threading


class Unanswering:
    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, name="unanswering", daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
